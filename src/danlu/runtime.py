"""Seeding and device selection shared by every entry point."""

from __future__ import annotations

import random

import numpy as np
import torch

from danlu.errors import UsageError

DEVICE_CHOICES = ("cpu", "cuda")


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's (CPU and CUDA) generators; return a seeded CPU Generator.

    Args:
        seed: a non-negative integer.
    """
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise UsageError(f"seed must be a non-negative integer, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def resolve_device(name: str | torch.device | None) -> torch.device:
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``None`` (meaning cpu) into a usable device.

    Raises:
        UsageError: CUDA was asked for but is not available, or the name is not a device.
    """
    if name is None:
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise UsageError(f"unknown device {name!r}; valid: {', '.join(DEVICE_CHOICES)}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError("device 'cuda' was asked for but CUDA is not available on this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type not in DEVICE_CHOICES:
        raise UsageError(f"unsupported device {name!r}; valid: {', '.join(DEVICE_CHOICES)}")
    return dev
