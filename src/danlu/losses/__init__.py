"""Losses (registry). Each entry: a constructor ``fn(**kw) -> nn.Module`` whose forward is
``loss(logits, target) -> scalar``.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from danlu.registry import Registry

LOSSES: Registry = Registry("loss")


@LOSSES.register("cross_entropy")
def _cross_entropy(**kw: Any) -> nn.Module:
    return nn.CrossEntropyLoss(**kw)


def create_loss(name: str, **kw: Any) -> nn.Module:
    """Build loss ``name`` (see ``LOSSES.names()``)."""
    return LOSSES.create(name, **kw)


__all__ = ["LOSSES", "create_loss"]
