"""Label-smoothing cross entropy and soft-target cross entropy.

Label smoothing (Szegedy et al., "Rethinking the Inception Architecture", arXiv:1512.00567) trains
on ``q = (1 - eps) * onehot(y) + eps / C``; Müller et al. ("When Does Label Smoothing Help?",
arXiv:1906.02629) show it improves calibration. :func:`label_smoothing_cross_entropy` equals
``torch.nn.CrossEntropyLoss(label_smoothing=eps, weight=w, ignore_index=i)`` (tested), written out
so the formula is visible:

``loss_n = (1 - eps) * w[y_n] * (-log p_{y_n}) + eps / C * sum_c w[c] * (-log p_c)``, and ``mean``
divides by ``sum_n w[y_n]`` over non-ignored targets (torch's convention).

:func:`soft_target_cross_entropy` takes a full target distribution (mixup, distillation, smoothing
done outside): ``-sum_c q_c log p_c``, equal to torch's cross entropy with probability targets.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.losses import LOSSES
from danlu.losses._checks import check_class_targets, check_reduction, reduce


def _check_smoothing(smoothing: float) -> None:
    if not 0.0 <= smoothing < 1.0:
        raise DanluError(f"label_smoothing must be in [0, 1), got {smoothing}")


def label_smoothing_cross_entropy(logits: Tensor, target: Tensor, smoothing: float = 0.1,
                                  weight: Sequence[float] | Tensor | None = None, ignore_index: int = -100,
                                  reduction: str = "mean") -> Tensor:
    """Cross entropy against smoothed one-hot targets.

    Args:
        logits: (N, C, *d) raw scores.
        target: (N, *d) class indices; ``ignore_index`` entries contribute nothing.
        smoothing: eps in [0, 1).
        weight: optional (C,) class weights (as torch's ``weight``).
        reduction: "none" ((N, *d)), "sum", or "mean" (weighted mean, as torch).
    """
    _check_smoothing(smoothing)
    check_reduction(reduction)
    check_class_targets(logits, target, "label_smoothing_cross_entropy")
    c = logits.shape[1]
    valid = target != ignore_index                                          # (N, *d)
    t = torch.where(valid, target, torch.zeros_like(target))
    logp = F.log_softmax(logits, dim=1)                                     # (N, C, *d)
    w = (torch.ones(c, dtype=logits.dtype, device=logits.device) if weight is None
         else torch.as_tensor(weight, dtype=logits.dtype, device=logits.device))
    if w.shape != (c,):
        raise DanluError(f"label_smoothing_cross_entropy: weight must have shape ({c},), got {tuple(w.shape)}")
    w_t = w[t] * valid                                                      # (N, *d)
    nll = -logp.gather(1, t.unsqueeze(1)).squeeze(1)                        # (N, *d)
    smooth = -(logp * w.view(1, c, *([1] * (logits.dim() - 2)))).sum(1)     # (N, *d)
    loss = (1 - smoothing) * w_t * nll + smoothing / c * smooth * valid
    return reduce(loss, reduction, w_t.sum())


def soft_target_cross_entropy(logits: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``-sum_c target_c log softmax(logits)_c``; logits and target both (N, C, *d)."""
    check_reduction(reduction)
    if logits.shape != target.shape or logits.dim() < 2:
        raise DanluError(f"soft_target_cross_entropy: target must be class probabilities with the logits' shape "
                         f"(N, C, ...), got logits {tuple(logits.shape)} and target {tuple(target.shape)}")
    if not target.is_floating_point():
        raise DanluError(f"soft_target_cross_entropy: target must be float probabilities, got {target.dtype}")
    loss = -(target * F.log_softmax(logits, dim=1)).sum(1)                  # (N, *d)
    return reduce(loss, reduction)


@LOSSES.register("label_smoothing_ce")
class LabelSmoothingCrossEntropy(nn.Module):
    """Module form of :func:`label_smoothing_cross_entropy`."""

    def __init__(self, smoothing: float = 0.1, weight: Sequence[float] | Tensor | None = None,
                 ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__()
        _check_smoothing(smoothing)
        check_reduction(reduction)
        self.smoothing, self.ignore_index, self.reduction = smoothing, ignore_index, reduction
        self.register_buffer("weight", None if weight is None else torch.as_tensor(weight, dtype=torch.float32))

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return label_smoothing_cross_entropy(logits, target, self.smoothing, self.weight, self.ignore_index,
                                             self.reduction)


@LOSSES.register("soft_target_ce")
class SoftTargetCrossEntropy(nn.Module):
    """Module form of :func:`soft_target_cross_entropy`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def forward(self, logits: Tensor, target: Tensor) -> Tensor:
        return soft_target_cross_entropy(logits, target, self.reduction)
