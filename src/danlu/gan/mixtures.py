"""The 2-D Gaussian-mixture targets of the GAN mode-collapse literature.

Ring of 8 (Metz et al. 2017, "Unrolled GANs", arXiv:1611.02163: radius 2, std 0.02) and grid of 25
(Srivastava et al. 2017, VEEGAN, arXiv:1705.07761: means at {-4, -2, 0, 2, 4}², std 0.05).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from danlu.errors import DanluError


def ring_centers(k: int = 8, radius: float = 2.0) -> Tensor:
    """(k, 2) means evenly spaced on a circle of ``radius``, the first at angle 0."""
    if k < 1 or not radius > 0:
        raise DanluError(f"ring_centers: need k >= 1 and radius > 0, got {k}, {radius}")
    ang = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    return (radius * torch.stack([torch.cos(ang), torch.sin(ang)], 1)).float()


def grid_centers(side: int = 5, spacing: float = 2.0) -> Tensor:
    """(side², 2) means on a centred square grid with ``spacing`` (5, 2.0: {-4, -2, 0, 2, 4}²)."""
    if side < 1 or not spacing > 0:
        raise DanluError(f"grid_centers: need side >= 1 and spacing > 0, got {side}, {spacing}")
    axis = (torch.arange(side, dtype=torch.float32) - (side - 1) / 2) * spacing
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.flatten(), gy.flatten()], 1)


def mixture(centers: Tensor, n: int, std: float, *, seed: int = 0) -> TensorDataset:
    """``n`` samples (x (n, 2), component y (n,)) of the equal-weight mixture N(centers[y], std² I)."""
    if n < 1 or not std > 0 or centers.dim() != 2:
        raise DanluError(f"mixture: need n >= 1, std > 0 and centers (K, D), got {n}, {std}, {tuple(centers.shape)}")
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, len(centers), (n,), generator=g)
    x = centers[y] + std * torch.randn(n, centers.shape[1], generator=g)
    return TensorDataset(x.float(), y)
