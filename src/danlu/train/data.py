"""Data for the Trainer: splits from the registry (or a tensor file) and resumable loaders.

The training order is a function of ``(seed, epoch)`` only: a :class:`ResumableSampler`
(torch's ``DistributedSampler``, which also serves a single process) permutes the indices
with a generator seeded by ``seed + epoch`` and gives rank ``r`` every ``world``-th index.
Resuming mid-epoch skips the batches already seen, so the data order continues exactly.
The loader draws its worker seeds from its own generator, never from the global RNG.
"""

from __future__ import annotations

import itertools
import pathlib
from collections.abc import Iterator

import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    DistributedSampler,
    SequentialSampler,
    Subset,
    TensorDataset,
)

from danlu.data import Splits, load_dataset
from danlu.data.splits import tensor_splits
from danlu.errors import DanluError
from danlu.train.config import DataConfig


def load_splits(cfg: DataConfig, seed: int) -> Splits:
    """The dataset named in ``cfg`` (or the tensor file ``cfg.path``), split deterministically by ``seed``."""
    if cfg.path is None:
        return load_dataset(cfg.name, seed=seed, **cfg.args)
    path = pathlib.Path(cfg.path).expanduser()
    if not path.is_file():
        raise DanluError(f"data.path: data file {cfg.path!r} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error here
        raise DanluError(f"data.path: cannot read {cfg.path!r} as a torch file ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or not {"x", "y"} <= set(blob):
        raise DanluError(f"data.path: {cfg.path!r} must hold a dict with tensors 'x' (N, ...) and 'y' (N,)")
    x, y = blob["x"], blob["y"]
    if len(x) != len(y):
        raise DanluError(f"data.path: {cfg.path!r} has {len(x)} inputs but {len(y)} labels")
    num_classes = int(y.max()) + 1 if not y.is_floating_point() else 0
    return tensor_splits(path.stem, x.float(), y, seed=seed, num_classes=num_classes,
                         info={"source": str(path)})


class ResumableSampler(DistributedSampler):
    """``DistributedSampler`` that can start an epoch after its first ``skip`` samples."""

    skip: int = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return super().__len__() - self.skip


class _IndexBatches(BatchSampler):
    """``BatchSampler`` yielding each batch's indices as one LongTensor (B,): one conversion, not one per tensor."""

    def __iter__(self) -> Iterator[torch.Tensor]:  # type: ignore[override]
        for batch in super().__iter__():
            yield torch.tensor(batch, dtype=torch.long)


def _batched(ds: Dataset) -> bool:
    """True for in-memory tensors: a whole batch is one indexing op (same values as stacking the samples)."""
    return isinstance(ds, TensorDataset) or (isinstance(ds, Subset) and isinstance(ds.dataset, TensorDataset))



def train_loader(ds: Dataset, batch_size: int, *, seed: int, rank: int, world_size: int,
                 num_workers: int = 0) -> tuple[DataLoader, ResumableSampler]:
    """Shuffled, full-batches-only loader over this rank's share of ``ds``, and its sampler.

    A ``TensorDataset`` is indexed a batch at a time (``x[indices]``) rather than sample by
    sample and stacked: the same batches, without the per-sample Python cost.
    """
    sampler = ResumableSampler(ds, num_replicas=world_size, rank=rank, shuffle=True, seed=seed, drop_last=True)
    common = {"num_workers": num_workers, "generator": torch.Generator().manual_seed(seed),
              "pin_memory": torch.cuda.is_available()}
    if isinstance(ds, TensorDataset):
        loader = DataLoader(ds, sampler=_IndexBatches(sampler, batch_size, drop_last=True), batch_size=None, **common)
    else:
        loader = DataLoader(ds, batch_size=batch_size, sampler=sampler, drop_last=True, **common)
    if len(loader) == 0:
        raise DanluError(f"data.batch_size={batch_size} is larger than this process's share of the training "
                         f"split ({len(sampler)} samples); lower the batch size")
    return loader, sampler


def eval_loader(ds: Dataset, batch_size: int, *, rank: int, world_size: int) -> DataLoader:
    """In-order loader over every ``world_size``-th sample from ``rank`` (no padding, no duplicates)."""
    part = Subset(ds, range(rank, len(ds), world_size)) if world_size > 1 else ds
    if _batched(part):
        return DataLoader(part, sampler=BatchSampler(SequentialSampler(part), batch_size, drop_last=False),
                          batch_size=None)
    return DataLoader(part, batch_size=batch_size, shuffle=False)


class LoaderBatches:
    """The engine's view of a :func:`train_loader`: an epoch's batches, resumable mid-epoch.

    ``epoch(e, skip)`` sets the sampler's epoch (the order depends on (seed, epoch) only) and skips
    the first ``skip`` batches of it, so a resumed run continues the data order exactly.
    """

    def __init__(self, loader: DataLoader, sampler: ResumableSampler, batch_size: int) -> None:
        self.loader, self.sampler, self.batch_size = loader, sampler, batch_size
        self._len = len(loader)

    def __len__(self) -> int:
        return self._len

    def epoch(self, epoch: int, skip: int) -> DataLoader:
        self.sampler.set_epoch(epoch)
        self.sampler.skip = skip * self.batch_size
        return self.loader
