"""Optimizer factory over torch.optim, with weight-decay exemptions for biases, norms and embeddings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from danlu.errors import DanluError
from danlu.registry import Registry

OPTIMIZERS: Registry = Registry("optimizer")

_NO_DECAY_TYPES = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.Embedding)


def param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups: decayed weights, and exempt params (biases, norm weights, embeddings)."""
    decay, no_decay = [], []
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad:
                continue
            exempt = isinstance(module, _NO_DECAY_TYPES) or pname.endswith("bias") or p.ndim <= 1
            (no_decay if exempt else decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


@OPTIMIZERS.register("sgd")
def _sgd(params: Iterable[Any], *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
         **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register("adam")
def _adam(params: Iterable[Any], *, lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register("adamw")
def _adamw(params: Iterable[Any], *, lr: float, weight_decay: float = 0.01, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **kw)


def create_optimizer(name: str, model_or_params: nn.Module | Iterable[Any], *, lr: float,
                     weight_decay: float = 0.0, exempt_norm_bias: bool = True, **kw: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name``; for a module, biases/norms/embeddings get no weight decay."""
    if not lr > 0:
        raise DanluError(f"learning rate must be positive, got {lr}")
    if weight_decay < 0:
        raise DanluError(f"weight_decay must be non-negative, got {weight_decay}")
    if isinstance(model_or_params, nn.Module):
        params = (param_groups(model_or_params, weight_decay) if exempt_norm_bias
                  else model_or_params.parameters())
    else:
        params = model_or_params
    return OPTIMIZERS.get(name)(params, lr=lr, weight_decay=weight_decay, **kw)
