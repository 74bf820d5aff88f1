"""Spatial pyramid pooling: any input size gives a fixed-length vector.

He, Zhang, Ren & Sun, "Spatial Pyramid Pooling in Deep Convolutional Networks for Visual
Recognition", arXiv:1406.4729. A feature map (B, C, H, W) is pooled (max or average) into an
n x n grid for every level n, and the grids are flattened and concatenated:
``(B, C, H, W) -> (B, C * sum(n^2))`` whatever H and W. Bins are torch's adaptive pooling bins
(bin i spans ``floor(i*H/n) .. ceil((i+1)*H/n)``), which equal the paper's
``window = ceil(H/n), stride = floor(H/n)`` bins when n divides H.

:class:`SPPClassifier` is a small conv net + SPP + linear head that accepts several input sizes;
:class:`RandomResize` resizes each training batch to one of several sizes (the paper's
multi-size training, one size per batch instead of per epoch).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError

__all__ = ["RandomResize", "SPPClassifier", "SpatialPyramidPooling"]

_POOLS = {"max": F.adaptive_max_pool2d, "avg": F.adaptive_avg_pool2d}


class SpatialPyramidPooling(nn.Module):
    """``(B, C, H, W) -> (B, C * sum(n^2 for n in levels))``; level grids in order, each flattened channel-major."""

    def __init__(self, levels: Sequence[int] = (1, 2, 4), mode: str = "max") -> None:
        super().__init__()
        if not levels or any(not isinstance(n, int) or n < 1 for n in levels):
            raise DanluError(f"SPP levels must be a non-empty list of positive integers, got {list(levels)}")
        if mode not in _POOLS:
            raise DanluError(f"SPP mode must be one of {sorted(_POOLS)}, got {mode!r}")
        self.levels, self.mode = tuple(levels), mode

    def out_features(self, channels: int) -> int:
        """Length of the output vector for ``channels`` input channels."""
        return channels * sum(n * n for n in self.levels)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise DanluError(f"SPP expects a feature map (B, C, H, W), got {tuple(x.shape)}")
        top = max(self.levels)
        if x.shape[-2] < top or x.shape[-1] < top:
            raise DanluError(f"SPP level {top} needs a feature map of at least {top}x{top}, got "
                             f"{x.shape[-2]}x{x.shape[-1]}; use a larger input or smaller levels")
        pool = _POOLS[self.mode]
        return torch.cat([pool(x, n).flatten(1) for n in self.levels], 1)


class SPPClassifier(nn.Module):
    """Conv stages (conv3x3-BN-ReLU, 2x2 max-pool) -> SPP -> linear: images of any size >= min_size -> logits."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32),
                 levels: Sequence[int] = (1, 2, 4), mode: str = "max") -> None:
        super().__init__()
        if not widths or any(int(w) < 1 for w in widths):
            raise DanluError(f"SPPClassifier widths must be positive integers, got {list(widths)}")
        layers: list[nn.Module] = []
        c = in_channels
        for w in widths:
            layers += [nn.Conv2d(c, int(w), 3, padding=1, bias=False), nn.BatchNorm2d(int(w)), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c = int(w)
        self.features = nn.Sequential(*layers)
        self.spp = SpatialPyramidPooling(levels, mode)
        self.head = nn.Linear(self.spp.out_features(c), num_classes)
        self.min_size = max(levels) * 2 ** len(widths)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4 or min(x.shape[-2:]) < self.min_size:
            raise DanluError(f"SPPClassifier takes images (B, C, H, W) with H, W >= {self.min_size}, "
                             f"got {tuple(x.shape)}")
        return self.head(self.spp(self.features(x)))  # (B, num_classes)


class RandomResize(nn.Module):
    """In training mode, resize each batch (bilinear) to a size drawn from ``sizes``; identity in eval mode.

    The draw uses its own generator seeded by ``seed`` (the global RNG is untouched).
    """

    def __init__(self, sizes: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        if not sizes or any(int(s) < 1 for s in sizes):
            raise DanluError(f"RandomResize sizes must be positive integers, got {list(sizes)}")
        self.sizes = [int(s) for s in sizes]
        self.gen = torch.Generator().manual_seed(seed)

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:
            return x
        s = self.sizes[int(torch.randint(len(self.sizes), (), generator=self.gen))]
        if tuple(x.shape[-2:]) == (s, s):
            return x
        return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)
