"""Focal loss, binary (sigmoid) and multi-class (softmax) (Lin et al., "Focal Loss for Dense Object
Detection", arXiv:1708.02002).

``FL(p_t) = -alpha_t (1 - p_t)^gamma log(p_t)``: the ``(1 - p_t)^gamma`` factor shrinks the loss of
well-classified examples, so the many easy ones (the majority class) stop dominating the gradient.

- :func:`sigmoid_focal_loss` is torchvision.ops.sigmoid_focal_loss's definition (same arguments,
  ``alpha=None`` meaning no weighting where torchvision uses a negative alpha), with checks.
- :func:`softmax_focal_loss` generalises it to C classes with a per-class ``alpha`` vector and
  ``ignore_index``; with ``gamma=0`` it is cross entropy (class-weighted by ``alpha``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.losses import LOSSES
from danlu.losses._checks import check_class_targets, check_reduction, reduce


def _check_gamma(gamma: float) -> None:
    if not gamma >= 0:
        raise DanluError(f"focal loss gamma must be >= 0, got {gamma}")


def _check_alpha(alpha: float | Sequence[float] | Tensor | None) -> None:
    if alpha is None:
        return
    a = torch.as_tensor(alpha, dtype=torch.float64)
    if not bool(((a >= 0) & (a <= 1)).all()):
        raise DanluError(f"focal loss alpha must be in [0, 1] (or None for no weighting), got {alpha}")


def sigmoid_focal_loss(logits: Tensor, target: Tensor, alpha: float | None = 0.25, gamma: float = 2.0,
                       reduction: str = "none") -> Tensor:
    """Binary focal loss on logits.

    Args:
        logits: (*) raw scores.
        target: (*) same shape, 1 for positive and 0 for negative (floats in [0, 1] allowed).
        alpha: weight of positives in [0, 1] (negatives get ``1 - alpha``); None: no weighting.
        gamma: focusing exponent >= 0 (0 gives alpha-weighted BCE).
        reduction: "none" (shape *), "mean" or "sum".
    """
    _check_alpha(alpha)
    _check_gamma(gamma)
    check_reduction(reduction)
    if logits.shape != target.shape:
        raise DanluError(f"sigmoid_focal_loss: target shape {tuple(target.shape)} must equal logits shape "
                         f"{tuple(logits.shape)}")
    target = target.to(logits.dtype)
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    p_t = p * target + (1 - p) * (1 - target)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = (alpha * target + (1 - alpha) * (1 - target)) * loss
    return reduce(loss, reduction)


def softmax_focal_loss(logits: Tensor, target: Tensor, alpha: Sequence[float] | Tensor | None = None,
                       gamma: float = 2.0, ignore_index: int = -100, reduction: str = "mean") -> Tensor:
    """Multi-class focal loss.

    Args:
        logits: (N, C, *d) raw scores.
        target: (N, *d) class indices; ``ignore_index`` entries contribute nothing.
        alpha: optional per-class weights, length C, each in [0, 1].
        gamma: focusing exponent >= 0.
        reduction: "none" ((N, *d), zeros at ignored), "sum", or "mean" (sum / number of non-ignored targets).
    """
    _check_alpha(alpha)
    _check_gamma(gamma)
    check_reduction(reduction)
    check_class_targets(logits, target, "softmax_focal_loss")
    valid = target != ignore_index                                        # (N, *d)
    t = torch.where(valid, target, torch.zeros_like(target))
    logp_t = F.log_softmax(logits, dim=1).gather(1, t.unsqueeze(1)).squeeze(1)  # (N, *d)
    loss = -((1 - logp_t.exp()) ** gamma) * logp_t
    if alpha is not None:
        a = torch.as_tensor(alpha, dtype=logits.dtype, device=logits.device)
        if a.dim() != 1 or a.numel() != logits.shape[1]:
            raise DanluError(f"softmax_focal_loss: alpha must have one weight per class ({logits.shape[1]}), "
                             f"got shape {tuple(a.shape)}")
        loss = a[t] * loss
    loss = torch.where(valid, loss, torch.zeros_like(loss))
    return reduce(loss, reduction, valid.sum().clamp(min=1).to(loss.dtype))


@LOSSES.register("sigmoid_focal")
class SigmoidFocalLoss(nn.Module):
    """Module form of :func:`sigmoid_focal_loss`; ``forward(logits (*), target (*)) -> loss``."""

    def __init__(self, alpha: float | None = 0.25, gamma: float = 2.0, reduction: str = "mean") -> None:
        super().__init__()
        _check_alpha(alpha)
        _check_gamma(gamma)
        check_reduction(reduction)
        self.alpha, self.gamma, self.reduction = alpha, gamma, reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return sigmoid_focal_loss(logits, target, self.alpha, self.gamma, self.reduction)


@LOSSES.register("focal")
class FocalLoss(nn.Module):
    """Module form of :func:`softmax_focal_loss`; ``forward(logits (N, C, *d), target (N, *d)) -> loss``."""

    def __init__(self, gamma: float = 2.0, alpha: Sequence[float] | Tensor | None = None,
                 ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__()
        _check_alpha(alpha)
        _check_gamma(gamma)
        check_reduction(reduction)
        self.gamma, self.ignore_index, self.reduction = gamma, ignore_index, reduction
        self.register_buffer("alpha", None if alpha is None else torch.as_tensor(alpha, dtype=torch.float32))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return softmax_focal_loss(logits, target, self.alpha, self.gamma, self.ignore_index, self.reduction)
