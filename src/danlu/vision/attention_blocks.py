"""Channel and spatial attention for conv nets: Squeeze-and-Excitation and CBAM.

* :class:`SqueezeExcite`: Hu et al., "Squeeze-and-Excitation Networks", arXiv:1709.01507.
  ``x * sigmoid(W2 relu(W1 mean_hw(x)))`` with ``W1: C -> C/r``, ``W2: C/r -> C`` (1x1 convs).
* :class:`CBAM`: Woo et al., "CBAM: Convolutional Block Attention Module", arXiv:1807.06521.
  Channel attention ``sigmoid(MLP(avgpool x) + MLP(maxpool x))`` (shared MLP, no biases), then
  spatial attention ``sigmoid(BN(conv_k([mean_c x, max_c x])))`` (the authors' code has the BN).

Shapes: ``(B, C, H, W) -> (B, C, H, W)``. Parameter names follow timm's ``SEModule`` and
``CbamModule`` (``fc1``/``fc2``; ``channel.fc1``, ``spatial.conv.conv``, ``spatial.conv.bn``), so
timm weights load with ``load_state_dict`` and the outputs agree (tests). :data:`CHANNEL_ATTENTIONS`
names them for the ResNet variants.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.registry import Registry

__all__ = ["CBAM", "CHANNEL_ATTENTIONS", "ChannelGate", "SpatialGate", "SqueezeExcite", "reduced_channels"]

#: name -> constructor ``(channels, reduction) -> nn.Module`` of a (B, C, H, W) -> same attention block.
CHANNEL_ATTENTIONS: Registry[Callable[..., nn.Module]] = Registry("channel attention")


def reduced_channels(channels: int, reduction: int) -> int:
    """Hidden width of the bottleneck MLP: ``max(1, channels // reduction)``."""
    if channels < 1 or reduction < 1:
        raise DanluError(f"channels and reduction must be positive, got channels={channels}, reduction={reduction}")
    return max(1, channels // reduction)


def _check(x: Tensor, channels: int, where: str) -> None:
    if x.dim() != 4 or x.shape[1] != channels:
        raise DanluError(f"{where} expects (B, {channels}, H, W), got {tuple(x.shape)}")


@CHANNEL_ATTENTIONS.register("se")
class SqueezeExcite(nn.Module):
    """SE block: rescale each channel by a gate computed from the global average (arXiv:1709.01507)."""

    def __init__(self, channels: int, reduction: int = 16, hidden: int | None = None) -> None:
        super().__init__()
        self.channels = channels
        hidden = hidden or reduced_channels(channels, reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def gate(self, x: Tensor) -> Tensor:
        """The per-channel gate (B, C, 1, 1) in (0, 1)."""
        return torch.sigmoid(self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True)))))

    def forward(self, x: Tensor) -> Tensor:
        _check(x, self.channels, "SqueezeExcite")
        return x * self.gate(x)


class ChannelGate(nn.Module):
    """CBAM channel attention: one bias-free MLP on the average- and the max-pooled vectors, summed."""

    def __init__(self, channels: int, reduction: int = 16, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or reduced_channels(channels, reduction)
        self.fc1 = nn.Conv2d(channels, hidden, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(hidden, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        avg = self.fc2(self.act(self.fc1(x.mean((2, 3), keepdim=True))))  # (B, C, 1, 1)
        mx = self.fc2(self.act(self.fc1(x.amax((2, 3), keepdim=True))))
        return x * torch.sigmoid(avg + mx)


class _ConvBN(nn.Module):
    def __init__(self, cin: int, cout: int, kernel_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, padding=kernel_size // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x))


class SpatialGate(nn.Module):
    """CBAM spatial attention: a k x k conv + BN on the channel mean and max maps, sigmoid gate (B, 1, H, W)."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise DanluError(f"CBAM spatial kernel_size must be odd and positive, got {kernel_size}")
        self.conv = _ConvBN(2, 1, kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)  # (B, 2, H, W)
        return x * torch.sigmoid(self.conv(pooled))


@CHANNEL_ATTENTIONS.register("cbam")
class CBAM(nn.Module):
    """Channel gate then spatial gate (arXiv:1807.06521)."""

    def __init__(self, channels: int, reduction: int = 16, hidden: int | None = None,
                 spatial_kernel_size: int = 7) -> None:
        super().__init__()
        self.channels = channels
        self.channel = ChannelGate(channels, reduction, hidden)
        self.spatial = SpatialGate(spatial_kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        _check(x, self.channels, "CBAM")
        return self.spatial(self.channel(x))
