"""Flooding (Ishida et al., "Do We Need Zero Training Loss After Achieving Zero Training Error?",
arXiv:2002.08709): train on ``|L - b| + b``.

Above the flood level ``b`` the value and gradient are the loss's own; below it the gradient flips
sign, so the mini-batch loss floats around ``b`` instead of going to zero. Apply it to the
*mini-batch mean* loss (a scalar), as the paper does.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.losses import LOSSES


def _check_b(b: float) -> None:
    if not b >= 0:
        raise DanluError(f"flooding level b must be >= 0, got {b}")


def flood(loss: Tensor, b: float) -> Tensor:
    """``|loss - b| + b`` for a scalar (mini-batch mean) ``loss``."""
    _check_b(b)
    if loss.dim() != 0:
        raise DanluError(f"flood expects a scalar mini-batch loss, got shape {tuple(loss.shape)}")
    return (loss - b).abs() + b


@LOSSES.register("flooding")
class Flooding(nn.Module):
    """Wrap a loss: ``forward(logits, target) = |base(logits, target) - b| + b``.

    Args:
        b: flood level >= 0.
        base: a loss module, or a ``LOSSES`` name (default ``"cross_entropy"``) built with ``**base_kw``.
    """

    def __init__(self, b: float = 0.05, base: nn.Module | str = "cross_entropy", **base_kw: Any) -> None:
        super().__init__()
        _check_b(b)
        self.b = b
        self.base = LOSSES.create(base, **base_kw) if isinstance(base, str) else base

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return flood(self.base(logits, target), self.b)
