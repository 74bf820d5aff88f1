"""Input checks shared by the attacks and the noise trainers: eps, declared input range, eval mode.

Every check raises :class:`danlu.errors.DanluError` with a one-line message that names the input
and what was expected; a model left in training mode is warned about and put in eval mode for the
duration of the attack (its mode is restored afterwards).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator

import torch
from torch import Tensor, nn

from danlu.errors import DanluError

Range = tuple[float, float]


def check_eps(eps: float, name: str = "eps") -> float:
    """``eps`` as a float; DanluError unless it is finite and >= 0."""
    try:
        value = float(eps)
    except (TypeError, ValueError):
        raise DanluError(f"{name} must be a number >= 0, got {eps!r}") from None
    if not math.isfinite(value) or value < 0:
        raise DanluError(f"{name} must be a finite number >= 0, got {eps!r}")
    return value


def check_positive(value: float, name: str) -> float:
    """``value`` as a float; DanluError unless it is finite and > 0."""
    v = check_eps(value, name)
    if v == 0:
        raise DanluError(f"{name} must be > 0, got {value!r}")
    return v


def check_count(value: int, name: str, minimum: int = 0) -> int:
    """``value`` as an int >= ``minimum`` (DanluError otherwise)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DanluError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_range(x: Tensor, clip: Range, name: str = "inputs") -> Range:
    """DanluError unless every value of ``x`` lies in the declared range ``clip = (lo, hi)``."""
    lo, hi = float(clip[0]), float(clip[1])
    if not lo < hi:
        raise DanluError(f"clip must be a range (lo, hi) with lo < hi, got {tuple(clip)!r}")
    if not x.is_floating_point():
        raise DanluError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    if x.numel() == 0:
        raise DanluError(f"{name} is empty (shape {tuple(x.shape)})")
    mn, mx = float(x.min()), float(x.max())
    if not (mn >= lo and mx <= hi):  # also catches NaN
        raise DanluError(f"{name} must lie in the declared range [{lo:g}, {hi:g}], got values in "
                         f"[{mn:.4g}, {mx:.4g}] (normalise inside the model, or pass clip=)")
    return lo, hi


def check_labels(x: Tensor, y: Tensor, name: str = "labels") -> None:
    """DanluError unless ``y`` is (B,) integer class indices for a batch ``x`` of B inputs."""
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool or y.dim() != 1 or len(y) != len(x):
        raise DanluError(f"{name} must be a (B,) integer tensor with B={len(x)}, got shape {tuple(y.shape)} "
                         f"and dtype {y.dtype}")


@contextlib.contextmanager
def eval_mode(model: nn.Module, who: str, *, warn: bool = True) -> Iterator[nn.Module]:
    """Run the block with ``model`` in eval mode, restoring its mode after.

    A model found in training mode is warned about (batch norm would update its running statistics
    and dropout would randomise the attack's gradient) unless ``warn`` is False (adversarial
    training switches on purpose).
    """
    was_training = model.training
    if was_training:
        if warn:
            warnings.warn(f"{who}: the model was in training mode; attacking it in eval mode (call model.eval() "
                          "to silence this)", stacklevel=4)
        model.eval()
    try:
        yield model
    finally:
        if was_training:
            model.train()
