"""Fine-tuning utilities: freeze/unfreeze by name pattern, head replacement, discriminative learning rates.

Transfer learning as in d2l's fine-tuning chapter and Howard & Ruder, "Universal Language Model
Fine-tuning for Text Classification" (ULMFiT, arXiv:1801.06146: discriminative learning rates,
gradual unfreezing). Patterns are shell globs over parameter / module names (``fnmatch``:
``"stem.*"``, ``"blocks.[01].*"``, ``"*bn*"``); a pattern that matches nothing is an error, so
a typo never silently trains the whole network.

A frozen BatchNorm (all its parameters frozen) is also kept in eval mode: a forward pre-hook
switches it to eval before every call, so ``model.train()`` does not let its running statistics
drift (the usual fine-tuning pitfall). :func:`unfreeze` removes the hook.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from torch import nn

from danlu.errors import DanluError

__all__ = ["freeze", "param_groups", "replace_head", "trainable_names", "unfreeze"]

_HOOK_ATTR = "_danlu_frozen_bn_hook"
_BN = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def _patterns(patterns: str | Iterable[str]) -> list[str]:
    pats = [patterns] if isinstance(patterns, str) else list(patterns)
    if not pats or any(not isinstance(p, str) or not p for p in pats):
        raise DanluError(f"patterns must be non-empty name globs, got {patterns!r}")
    return pats


def _match(model: nn.Module, patterns: str | Iterable[str]) -> list[str]:
    names = [n for n, _ in model.named_parameters()]
    out: list[str] = []
    for p in _patterns(patterns):
        hits = fnmatch.filter(names, p)
        if not hits:
            raise DanluError(f"pattern {p!r} matches no parameter; names look like {names[:4]}")
        out += [h for h in hits if h not in out]
    return out


def _keep_eval(module: nn.Module, _inputs: Any) -> None:
    module.eval()


def _sync_bn_hooks(model: nn.Module) -> None:
    for m in model.modules():
        if not isinstance(m, _BN):
            continue
        params = list(m.parameters())
        frozen = bool(params) and not any(p.requires_grad for p in params)
        hook = getattr(m, _HOOK_ATTR, None)
        if frozen and hook is None:
            setattr(m, _HOOK_ATTR, m.register_forward_pre_hook(_keep_eval))
            m.eval()
        elif not frozen and hook is not None:
            hook.remove()
            delattr(m, _HOOK_ATTR)


def freeze(model: nn.Module, patterns: str | Iterable[str] = "*", *, bn_eval: bool = True) -> list[str]:
    """Stop gradients for parameters matching ``patterns``; returns their names.

    With ``bn_eval`` (default), BatchNorm layers whose parameters are all frozen stay in eval mode.
    """
    names = _match(model, patterns)
    params = dict(model.named_parameters())
    for n in names:
        params[n].requires_grad_(False)
    if bn_eval:
        _sync_bn_hooks(model)
    return names


def unfreeze(model: nn.Module, patterns: str | Iterable[str] = "*") -> list[str]:
    """Let gradients flow again to parameters matching ``patterns`` (and release their BN layers)."""
    names = _match(model, patterns)
    params = dict(model.named_parameters())
    for n in names:
        params[n].requires_grad_(True)
    _sync_bn_hooks(model)
    return names


def trainable_names(model: nn.Module) -> list[str]:
    """Names of the parameters that currently require gradients."""
    return [n for n, p in model.named_parameters() if p.requires_grad]


def replace_head(model: nn.Module, num_classes: int, attr: str = "head") -> nn.Linear:
    """Replace the ``nn.Linear`` at dotted path ``attr`` with a fresh one of ``num_classes`` outputs; return it."""
    if not isinstance(num_classes, int) or num_classes < 1:
        raise DanluError(f"num_classes must be a positive integer, got {num_classes!r}")
    *parents, last = attr.split(".")
    owner = model
    for part in parents:
        owner = getattr(owner, part, None)
        if owner is None:
            raise DanluError(f"model has no submodule {attr!r} (no {part!r})")
    old = getattr(owner, last, None)
    if not isinstance(old, nn.Linear):
        raise DanluError(f"model.{attr} must be an nn.Linear head, got {type(old).__name__}")
    new = nn.Linear(old.in_features, num_classes, bias=old.bias is not None,
                    device=old.weight.device, dtype=old.weight.dtype)
    setattr(owner, last, new)
    return new


def param_groups(model: nn.Module, lrs: Mapping[str, float] | Sequence[tuple[str, float]],
                 default_lr: float | None = None, **group_options: Any) -> list[dict[str, Any]]:
    """Optimizer parameter groups with a learning rate per name pattern (discriminative fine-tuning).

    ``lrs`` maps globs to learning rates, first match wins (``{"head.*": 1e-2, "blocks.1.*": 1e-3}``);
    trainable parameters matching none get ``default_lr`` (an error if it is None and some are left).
    Frozen parameters are left out. Each group is ``{"params", "lr", "name", **group_options}``.
    """
    rules = list(lrs.items()) if isinstance(lrs, Mapping) else list(lrs)
    for pat, lr in rules:
        if not isinstance(lr, (int, float)) or lr < 0:
            raise DanluError(f"learning rate for {pat!r} must be a non-negative number, got {lr!r}")
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    groups: list[dict[str, Any]] = [{"params": [], "lr": float(lr), "name": pat, **group_options}
                                    for pat, lr in rules]
    rest: list[nn.Parameter] = []
    for n, p in trainable:
        for g, (pat, _) in zip(groups, rules, strict=True):
            if fnmatch.fnmatchcase(n, pat):
                g["params"].append(p)
                break
        else:
            rest.append(p)
    for g in groups:
        if not g["params"]:
            raise DanluError(f"lr pattern {g['name']!r} matches no trainable parameter")
    if rest:
        if default_lr is None:
            raise DanluError(f"{len(rest)} trainable parameters match no lr pattern and default_lr is None")
        groups.append({"params": rest, "lr": float(default_lr), "name": "default", **group_options})
    return groups
