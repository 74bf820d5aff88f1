"""Input checks shared by the losses: clear errors naming the argument and the expectation."""

from __future__ import annotations

import torch

from danlu.errors import DanluError

REDUCTIONS = ("none", "mean", "sum")


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise DanluError(f"reduction must be one of {', '.join(REDUCTIONS)}; got {reduction!r}")


def check_class_targets(logits: torch.Tensor, target: torch.Tensor, name: str) -> None:
    """logits (N, C, *d) float, target (N, *d) integer class indices."""
    if logits.dim() < 2:
        raise DanluError(f"{name}: logits must be (N, C, ...) with a class dimension, got shape {tuple(logits.shape)}")
    if target.is_floating_point() or target.dtype == torch.bool:
        raise DanluError(f"{name}: target must hold integer class indices, got dtype {target.dtype}")
    if target.shape != logits.shape[:1] + logits.shape[2:]:
        raise DanluError(f"{name}: target shape {tuple(target.shape)} does not match logits {tuple(logits.shape)} "
                         f"(expected {tuple(logits.shape[:1] + logits.shape[2:])})")


def reduce(loss: torch.Tensor, reduction: str, denom: torch.Tensor | None = None) -> torch.Tensor:
    """Apply ``reduction``; ``mean`` divides the sum by ``denom`` when given (valid count or weight sum)."""
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction == "sum":
        return total
    return total / denom if denom is not None else loss.mean()
