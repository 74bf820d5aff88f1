"""Optimizer factory over torch.optim, with weight-decay exemptions for biases, norms and embeddings.

Registered names (every entry is torch's own optimizer, configured):

- ``sgd``: SGD with momentum 0.9 (coupled L2 ``weight_decay``).
- ``nesterov``: SGD with Nesterov momentum 0.9 (Sutskever et al. 2013).
- ``adam``: Adam (Kingma & Ba, arXiv:1412.6980); its ``weight_decay`` is coupled L2.
- ``adam_l2``: the same Adam, named for what its decay is: L2 added to the gradient, so it is
  rescaled by the adaptive denominator (the baseline of the AdamW paper).
- ``adamw``: decoupled weight decay ``w <- w - lr * wd * w`` (Loshchilov & Hutter, arXiv:1711.05101).
- ``radam``: rectified Adam (Liu et al., arXiv:1908.03265); ``decoupled_weight_decay=True`` is
  accepted as in torch.

    >>> from torch import nn
    >>> from danlu.optim import create_optimizer
    >>> opt = create_optimizer("adamw", nn.Linear(4, 2), lr=1e-3, weight_decay=0.05)
    >>> [g["weight_decay"] for g in opt.param_groups]
    [0.05, 0.0]
"""

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
    """Two parameter groups: decayed weights, and exempt params (biases, norm weights, embeddings).

    A parameter is exempt if it belongs to a norm layer or an ``nn.Embedding``, is named ``*bias``,
    or has at most one dimension (gains, scales). Shared parameters are listed once.
    """
    decay, no_decay, seen = [], [], set()
    for module in model.modules():
        for pname, p in module.named_parameters(recurse=False):
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
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


@OPTIMIZERS.register("nesterov")
def _nesterov(params: Iterable[Any], *, lr: float, weight_decay: float = 0.0, momentum: float = 0.9,
              **kw: Any) -> torch.optim.Optimizer:
    if not momentum > 0:
        raise DanluError(f"nesterov needs momentum > 0, got {momentum}")
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=True, **kw)


@OPTIMIZERS.register("adam_l2")  # the same update, named for comparisons: decay enters the gradient (coupled L2)
@OPTIMIZERS.register("adam")
def _adam(params: Iterable[Any], *, lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register("adamw")
def _adamw(params: Iterable[Any], *, lr: float, weight_decay: float = 0.01, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, **kw)


@OPTIMIZERS.register("radam")
def _radam(params: Iterable[Any], *, lr: float, weight_decay: float = 0.0, **kw: Any) -> torch.optim.Optimizer:
    return torch.optim.RAdam(params, lr=lr, weight_decay=weight_decay, **kw)


def create_optimizer(name: str, model_or_params: nn.Module | Iterable[Any], *, lr: float,
                     weight_decay: float = 0.0, exempt_norm_bias: bool = True, **kw: Any) -> torch.optim.Optimizer:
    """Build optimizer ``name`` (``OPTIMIZERS.names()``).

    Args:
        name: registered optimizer name; unknown names raise with the valid ones listed.
        model_or_params: a module (then biases/norms/embeddings get no weight decay when
            ``exempt_norm_bias``) or an iterable of parameters / param-group dicts (used as given).
        lr: learning rate, > 0.
        weight_decay: >= 0; coupled L2 for sgd/nesterov/adam/adam_l2/radam, decoupled for adamw.
        **kw: passed to the torch optimizer (betas, eps, momentum, ...).
    """
    factory = OPTIMIZERS.get(name)
    if not (isinstance(lr, (int, float)) and lr > 0):
        raise DanluError(f"learning rate must be a positive number, got {lr!r}")
    if not weight_decay >= 0:
        raise DanluError(f"weight_decay must be non-negative, got {weight_decay}")
    if isinstance(model_or_params, nn.Module):
        params = (param_groups(model_or_params, weight_decay) if exempt_norm_bias
                  else model_or_params.parameters())
    else:
        params = model_or_params
    try:
        return factory(params, lr=lr, weight_decay=weight_decay, **kw)
    except TypeError as exc:
        raise DanluError(f"optimizer {name!r}: bad arguments {sorted(kw)} ({exc})") from None
