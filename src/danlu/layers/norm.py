"""``norm=`` factory: one string picks the normalization layer of danlu's small models.

``"bn"`` BatchNorm (Ioffe & Szegedy 2015, arXiv:1502.03167), ``"gn"`` GroupNorm (Wu & He 2018,
arXiv:1803.08494), ``"ln"`` LayerNorm over channels (GroupNorm with one group for conv maps,
nn.LayerNorm for vectors), ``"none"`` identity. All are torch's own layers.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from danlu.errors import DanluError
from danlu.registry import Registry

#: name -> fn(channels, *, spatial: bool, groups: int) -> nn.Module
NORMS: Registry[Callable[..., nn.Module]] = Registry("norm")


@NORMS.register("bn")
def _bn(channels: int, *, spatial: bool = True, groups: int = 8) -> nn.Module:
    return nn.BatchNorm2d(channels) if spatial else nn.BatchNorm1d(channels)


@NORMS.register("gn")
def _gn(channels: int, *, spatial: bool = True, groups: int = 8) -> nn.Module:
    g = min(groups, channels)
    while channels % g:
        g -= 1
    return nn.GroupNorm(g, channels)


@NORMS.register("ln")
def _ln(channels: int, *, spatial: bool = True, groups: int = 8) -> nn.Module:
    return nn.GroupNorm(1, channels) if spatial else nn.LayerNorm(channels)


@NORMS.register("none")
def _none(channels: int, *, spatial: bool = True, groups: int = 8) -> nn.Module:
    return nn.Identity()


def make_norm(name: str, channels: int, *, spatial: bool = True, groups: int = 8) -> nn.Module:
    """Build the normalization layer ``name`` for ``channels`` features.

    Args:
        name: one of ``NORMS.names()`` ("bn", "gn", "ln", "none").
        channels: number of channels (conv maps, ``spatial=True``) or features (vectors).
        spatial: inputs are (B, C, H, W) maps rather than (B, C) vectors.
        groups: GroupNorm groups (reduced to a divisor of ``channels`` if needed).
    """
    if channels <= 0:
        raise DanluError(f"norm channels must be positive, got {channels}")
    return NORMS.get(name)(channels, spatial=spatial, groups=groups)
