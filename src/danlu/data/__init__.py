"""Embedded and synthetic datasets: nothing downloads.

    >>> from danlu.data import load_dataset
    >>> ds = load_dataset("digits", seed=0)
    >>> ds.train[0][0].shape, ds.num_classes
    (torch.Size([1, 8, 8]), 10)

Datasets are registered in :data:`DATASETS` (``list_datasets()``, ``load_dataset(name, ...)``);
each returns a :class:`Splits` with deterministic train/val/test ``TensorDataset``s.

The names below load on first use, so ``danlu.data.tfrecord`` (and the ``danlu tfrecord`` verb)
does not pay for importing torch unless it needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DATASETS", "Splits", "list_datasets", "load_dataset", "make_loader", "split_indices"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        # DATASETS fills itself on first lookup (its loader imports danlu.data.embedded/synthetic).
        return getattr(importlib.import_module("danlu.data.splits"), name)
    raise AttributeError(f"module 'danlu.data' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
