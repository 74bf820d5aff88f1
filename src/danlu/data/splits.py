"""Deterministic splits, the dataset registry and a DataLoader helper."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from danlu.errors import DanluError
from danlu.registry import Registry

#: name -> loader(seed=..., **kw) -> Splits


def _load_datasets() -> None:
    """Import the modules whose decorators fill DATASETS (they import sklearn/mlxtend lazily).

    Datasets defined elsewhere (``danlu.seq``, ``danlu.vision``, ...) are reached through
    ``danlu/data/providers/<area>.py``: one module per area that imports the area's dataset module.
    """
    import importlib
    import pkgutil

    import danlu.data.embedded  # noqa: F401
    import danlu.data.providers
    import danlu.data.synthetic  # noqa: F401

    for mod in pkgutil.iter_modules(danlu.data.providers.__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"danlu.data.providers.{mod.name}")


DATASETS: Registry = Registry("dataset", loader=_load_datasets)


@dataclass
class Splits:
    """Train/val/test splits of one dataset.

    Attributes:
        name: dataset name.
        train, val, test: ``TensorDataset(x, y)``.
        num_classes: number of classes (0 for regression / sequence tasks without classes).
        input_shape: shape of one input, e.g. ``(1, 28, 28)``.
        info: free-form metadata (source, class names, generator parameters).
    """

    name: str
    train: TensorDataset
    val: TensorDataset
    test: TensorDataset
    num_classes: int
    input_shape: tuple[int, ...]
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"Splits({self.name!r}, train={len(self.train)}, val={len(self.val)}, test={len(self.test)}, "
                f"num_classes={self.num_classes}, input_shape={self.input_shape})")


def split_indices(n: int, fractions: Sequence[float] = (0.7, 0.15, 0.15), *, seed: int = 0,
                  stratify: torch.Tensor | None = None) -> list[torch.Tensor]:
    """Split ``range(n)`` into disjoint index tensors with the given fractions.

    The split depends only on ``(n, fractions, seed, stratify)``. With ``stratify`` (a label per
    item), each class is split in the same proportions (as ``sklearn``'s stratified split does).
    The last part takes the rounding remainder, so every index lands in exactly one part.
    """
    if n <= 0:
        raise DanluError(f"split_indices: n must be positive, got {n}")
    fr = [float(f) for f in fractions]
    if any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
        raise DanluError(f"split fractions must be non-negative and sum to 1, got {tuple(fractions)}")
    g = torch.Generator().manual_seed(seed)
    groups = [torch.arange(n)] if stratify is None else [
        torch.nonzero(stratify == c, as_tuple=True)[0] for c in torch.unique(stratify)]
    parts: list[list[torch.Tensor]] = [[] for _ in fr]
    for idx in groups:
        idx = idx[torch.randperm(len(idx), generator=g)]
        bounds = [0]
        for f in fr[:-1]:
            bounds.append(bounds[-1] + int(round(f * len(idx))))
        bounds.append(len(idx))
        for i in range(len(fr)):
            parts[i].append(idx[bounds[i]:bounds[i + 1]])
    out = []
    for p in parts:
        cat = torch.cat(p)
        out.append(cat[torch.randperm(len(cat), generator=g)])
    return out


def tensor_splits(name: str, x: torch.Tensor, y: torch.Tensor, *, seed: int, num_classes: int,
                  fractions: Sequence[float] = (0.7, 0.15, 0.15), stratify: bool = True,
                  info: dict[str, Any] | None = None) -> Splits:
    """Wrap full tensors ``x`` (N, ...) and ``y`` (N, ...) into deterministic :class:`Splits`."""
    strat = y if (stratify and y.dim() == 1 and not y.is_floating_point()) else None
    tr, va, te = split_indices(len(x), fractions, seed=seed, stratify=strat)
    return Splits(name, TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), TensorDataset(x[te], y[te]),
                  num_classes, tuple(x.shape[1:]), dict(info or {}))


def list_datasets() -> list[str]:
    """Names of the registered datasets."""
    return DATASETS.names()


def load_dataset(name: str, *, seed: int = 0, **kwargs: Any) -> Splits:
    """Load a registered dataset by name (``digits``, ``mnist5k``, ``moons``, ...).

    An argument the dataset does not take raises :class:`DanluError` naming it and the valid ones.
    """
    import inspect

    loader = DATASETS.get(name)
    params = inspect.signature(loader).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = [k for k, p in params.items() if k != "seed" and p.kind is not p.VAR_POSITIONAL]
        bad = [k for k in kwargs if k not in params]
        if bad:
            raise DanluError(f"dataset {name!r} takes no argument {bad[0]!r}; valid: {', '.join(valid) or '(none)'}")
    return loader(seed=seed, **kwargs)


def make_loader(ds: Dataset, batch_size: int, *, shuffle: bool = False, seed: int = 0,
                drop_last: bool = False, num_workers: int = 0) -> DataLoader:
    """A DataLoader whose shuffling order depends only on ``seed`` (and the epoch count)."""
    if batch_size <= 0:
        raise DanluError(f"batch_size must be positive, got {batch_size}")
    g = torch.Generator().manual_seed(seed)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g if shuffle else None,
                      drop_last=drop_last, num_workers=num_workers)
