"""CoordConv (Liu et al. 2018, "An intriguing failing of convolutional neural networks and the
CoordConv solution", arXiv:1807.03247) and its supervised coordinate-regression task.

``AddCoords`` appends two channels holding each pixel's row and column coordinate, scaled to
[-1, 1] (as the paper's code: ``2 i / (H - 1) - 1``), and optionally a third with the distance
from the centre r = sqrt(i² + j²) (danlu's choice of r; the paper's code measures it from (0.5, 0.5)).
``CoordConv2d`` is AddCoords followed by ``nn.Conv2d`` over the ``C + 2 (+1)`` channels.

The regression task (the paper's "Supervised Coordinate Regression"): the input is an S × S image
with a single pixel on; the target its (row, column), scaled to [-1, 1]. The ``quadrant`` split
holds out every position in the bottom-right quadrant (test), the others train; ``uniform``
splits positions at random. A convolution is translation equivariant, so without coordinates a
network must learn position from padding or a fully connected head, which sees no held-out
position during training.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from danlu.data.splits import DATASETS, Splits
from danlu.errors import DanluError


def coordinate_channels(h: int, w: int, *, with_r: bool = False, dtype: torch.dtype = torch.float32,
                        device: torch.device | None = None) -> Tensor:
    """(2 or 3, h, w): row coordinate, column coordinate in [-1, 1] (0 for a size-1 axis), then r."""
    def axis(n: int) -> Tensor:
        a = torch.arange(n, dtype=dtype, device=device)
        return 2 * a / (n - 1) - 1 if n > 1 else torch.zeros(1, dtype=dtype, device=device)

    rows, cols = torch.meshgrid(axis(h), axis(w), indexing="ij")
    chans = [rows, cols] + ([torch.sqrt(rows**2 + cols**2)] if with_r else [])
    return torch.stack(chans)


class AddCoords(nn.Module):
    """x (B, C, H, W) -> (B, C + 2 (+1 with ``with_r``), H, W): coordinate channels appended."""

    def __init__(self, with_r: bool = False) -> None:
        super().__init__()
        self.with_r = with_r

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 4:
            raise DanluError(f"AddCoords: input must be (B, C, H, W), got {tuple(x.shape)}")
        c = coordinate_channels(x.shape[2], x.shape[3], with_r=self.with_r, dtype=x.dtype, device=x.device)
        return torch.cat([x, c.expand(len(x), -1, -1, -1)], 1)


class CoordConv2d(nn.Module):
    """AddCoords then ``nn.Conv2d(in_channels + 2 (+1), out_channels, ...)``; x (B, C_in, H, W) -> (B, C_out, H', W')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, with_r: bool = False,
                 **conv_kw: object) -> None:
        super().__init__()
        self.add = AddCoords(with_r)
        self.conv = nn.Conv2d(in_channels + 2 + int(with_r), out_channels, kernel_size, **conv_kw)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(self.add(x))


@DATASETS.register("coord_regression")
def coord_regression(*, seed: int = 0, size: int = 16, split: str = "quadrant", val_fraction: float = 0.1) -> Splits:
    """One image per position: x (S², 1, S, S) one-hot, y (S², 2) (row, col) in [-1, 1]. ``quadrant``:
    test = the bottom-right quadrant (rows and cols >= S/2); ``uniform``: a random quarter of positions.
    A seeded ``val_fraction`` of the remaining positions is the validation split."""
    if size < 4:
        raise DanluError(f"coord_regression: size must be >= 4, got {size}")
    if split not in ("quadrant", "uniform"):
        raise DanluError(f"coord_regression: split must be quadrant or uniform, got {split!r}")
    n = size * size
    idx = torch.arange(n)
    r, c = idx // size, idx % size
    x = torch.zeros(n, 1, size, size)
    x[idx, 0, r, c] = 1.0
    y = coordinate_channels(size, size)[:, r, c].t().contiguous()  # (n, 2)
    g = torch.Generator().manual_seed(seed)
    if split == "quadrant":
        test = (r >= size // 2) & (c >= size // 2)
    else:
        test = torch.zeros(n, dtype=torch.bool)
        test[torch.randperm(n, generator=g)[: n // 4]] = True
    rest = idx[~test][torch.randperm(int((~test).sum()), generator=g)]
    n_val = int(round(val_fraction * len(rest)))
    va, tr, te = rest[:n_val], rest[n_val:], idx[test]
    return Splits("coord_regression", TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]),
                  TensorDataset(x[te], y[te]), 0, (1, size, size), {"split": split, "size": size})
