"""LR schedules (registry). Each entry: ``fn(optimizer, *, total_steps, **kw) -> LRScheduler``."""

from __future__ import annotations

from typing import Any

import torch

from danlu.errors import DanluError
from danlu.registry import Registry

SCHEDULES: Registry = Registry("schedule")


@SCHEDULES.register("constant")
def _constant(optimizer: torch.optim.Optimizer, *, total_steps: int, **kw: Any):
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


@SCHEDULES.register("cosine")
def _cosine(optimizer: torch.optim.Optimizer, *, total_steps: int, min_lr: float = 0.0, **kw: Any):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_steps, eta_min=min_lr)


def create_schedule(name: str, optimizer: torch.optim.Optimizer, *, total_steps: int, **kw: Any):
    """Build schedule ``name`` stepping once per optimizer step over ``total_steps``."""
    if total_steps <= 0:
        raise DanluError(f"total_steps must be positive, got {total_steps}")
    return SCHEDULES.get(name)(optimizer, total_steps=total_steps, **kw)
