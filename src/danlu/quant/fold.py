"""Batch-norm folding (Jacob et al. 2018, sec. 3.2): conv/linear followed by BN as one affine layer.

With ``y = gamma (W x + b - mu) / sqrt(var + eps) + beta`` the folded layer is

    W_fold = W * gamma / sqrt(var + eps)          (scaled per output channel)
    b_fold = beta + (b - mu) * gamma / sqrt(var + eps)

In eval mode ``mu``/``var`` are the running statistics and the folded layer equals conv -> BN
(tested against ``torch.nn.utils.fusion.fuse_conv_bn_eval``). During QAT the paper folds with
the current batch's statistics and switches to the running ones after a number of steps
(``danlu.quant.qat_modules.QATWeighted``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def fold_bn(weight: Tensor, bias: Tensor | None, mean: Tensor, var: Tensor, gamma: Tensor | None,
            beta: Tensor | None, eps: float) -> tuple[Tensor, Tensor]:
    """(W_fold, b_fold); ``weight`` (C_out, ...), the BN tensors (C_out,)."""
    inv_std = torch.rsqrt(var + eps)
    factor = inv_std if gamma is None else gamma * inv_std  # (C_out,)
    b = torch.zeros_like(mean) if bias is None else bias
    shift = torch.zeros_like(mean) if beta is None else beta
    w = weight * factor.reshape(-1, *([1] * (weight.dim() - 1)))
    return w, shift + (b - mean) * factor


def fold_bn_eval(layer: nn.Conv2d | nn.Linear, bn: nn.BatchNorm1d | nn.BatchNorm2d) -> tuple[Tensor, Tensor]:
    """Folded (weight, bias) of ``layer`` then ``bn`` with BN's running statistics (eval-mode equality)."""
    if bn.running_mean is None or bn.running_var is None:
        from danlu.errors import DanluError

        raise DanluError("fold_bn_eval needs a BatchNorm with track_running_stats=True")
    return fold_bn(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)
