"""What every score shares: input checks, seeds, a progress bar, and the scorer's training run.

A scorer is trained through :func:`danlu.train.fit` with :class:`IndexedClassification`: the
classification task on batches ``(x, y, index)``, whose step outputs ``(logits, index)`` so that a
callback (forgetting events, AUM) knows which examples each step saw. Every score trains one model
per seed: ``torch.manual_seed(seed)`` before ``model_factory()`` (weights, dropout) and ``fit(...,
seed=seed)`` (batch order), so a score is a function of its arguments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.train.engine import Callback
from danlu.train.tasks.base import Context, StepOutput
from danlu.train.tasks.classification import Classification

#: ``fn(model, total_steps)`` -> an optimizer, or ``(optimizer, per-step LR schedule)``.
OptimizerFactory = Callable[[nn.Module, int], "torch.optim.Optimizer | tuple[torch.optim.Optimizer, Any]"]
ModelFactory = Callable[[], nn.Module]


def adam(lr: float = 1e-3) -> OptimizerFactory:
    """The default scorer optimizer: Adam with learning rate ``lr`` and no schedule."""
    return lambda model, steps: torch.optim.Adam(model.parameters(), lr=lr)


def check_dataset(dataset: Any, where: str = "dataset") -> tuple[Tensor, Tensor]:
    """``(x (N, ...), y (N,) int64)`` of a labelled ``TensorDataset``, or a one-line DanluError."""
    if not isinstance(dataset, TensorDataset):
        raise DanluError(f"{where} must be a TensorDataset(x, y) of in-memory tensors, got {type(dataset).__name__}")
    if len(dataset.tensors) < 2:
        raise DanluError(f"{where} has no labels: data selection scores need TensorDataset(x, y) with y (N,) class "
                         f"indices, got {len(dataset.tensors)} tensor")
    x, y = dataset.tensors[0], dataset.tensors[1]
    if y.ndim != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise DanluError(f"{where} labels must be (N,) integer class indices, got shape {tuple(y.shape)} {y.dtype}")
    if len(y) == 0:
        raise DanluError(f"{where} is empty")
    if int(y.min()) < 0:
        raise DanluError(f"{where} labels must be non-negative class indices, found {int(y.min())}")
    return x, y.long()


def seed_list(seeds: int | Sequence[int], where: str = "seeds") -> list[int]:
    """``seeds`` as a list: an int ``k`` means seeds ``0..k-1``; a sequence is used as given."""
    out = list(range(seeds)) if isinstance(seeds, int) and not isinstance(seeds, bool) else list(seeds)
    if not out or any(not isinstance(s, int) or isinstance(s, bool) or s < 0 for s in out):
        raise DanluError(f"{where} must be a positive count or a non-empty list of non-negative ints, got {seeds!r}")
    return out


def check_counts(epochs: int, batch_size: int) -> None:
    if not isinstance(epochs, int) or epochs < 0:
        raise DanluError(f"epochs must be a non-negative int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise DanluError(f"batch_size must be a positive int, got {batch_size!r}")


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[[int], None]]:
    """A transient rich progress bar on stderr; yields ``advance(n=1)`` (a no-op when disabled)."""
    if not enabled:
        yield lambda n=1: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(bar_width=20), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.update(task, advance=n)


class IndexedClassification(Classification):
    """Classification on batches ``(x (B, ...), y (B,), index (B,))``; outputs ``(logits (B, C), index (B,))``.

    The index rides along so callbacks see which training examples a step used (Toneva et al. 2019
    count forgetting per example; Pleiss et al. 2020 average each example's margin).
    """

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, y, index = batch  # (B, ...), (B,), (B,)
        out = super().training_step(model, (x, y), ctx)
        return StepOutput(out.loss, out.stats, (out.outputs, index))


def padded_index(n: int, batch_size: int, seed: int) -> Tensor:
    """``arange(n)`` plus ``(-n) % batch_size`` extra indices (a seeded draw without repeats), so whole
    batches cover every example each epoch (:class:`danlu.train.TensorBatches` drops a remainder).

    The scores need every example presented (forgetting, AUM) and the paper's loaders drop nothing;
    the pad (fewer than ``batch_size`` examples) is seen twice per epoch. No pad when ``n <= batch_size``
    (one batch of everything).
    """
    base = torch.arange(n)
    if n <= batch_size:
        return base
    extra = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:(-n) % batch_size]
    return torch.cat([base, extra])


def train_scorer(model_factory: ModelFactory, dataset: TensorDataset, *, seed: int, epochs: int, batch_size: int,
                 device: torch.device, optimizer: OptimizerFactory | None = None,
                 callbacks: Sequence[Callback] = ()) -> nn.Module:
    """One scorer: ``torch.manual_seed(seed)``, ``model_factory()``, ``epochs`` epochs of ``fit``.

    An epoch is ``ceil(N / batch_size)`` steps over :func:`padded_index`, so every example is in
    every epoch. ``epochs=0`` returns the model at initialization.
    Callbacks see ``engine.last.outputs == (logits (B, C), index (B,))``.
    """
    from danlu.train import fit

    x, y = check_dataset(dataset)
    torch.manual_seed(seed)
    model = model_factory()
    if not isinstance(model, nn.Module):
        raise DanluError(f"model_factory must return an nn.Module, got {type(model).__name__}")
    model.to(device)
    index = padded_index(len(y), batch_size, seed)
    steps = epochs * max(len(index) // batch_size, 1)
    made = (optimizer or adam())(model, steps)
    opt, sched = made if isinstance(made, tuple) else (made, None)
    indexed = TensorDataset(x[index], y[index], index)
    fit(IndexedClassification(), model, indexed, steps=steps, seed=seed, device=device, batch_size=batch_size,
        optimizer=opt, schedule=sched, callbacks=callbacks)
    return model.eval()


@torch.no_grad()
def predict(model: nn.Module, x: Tensor, batch_size: int, device: torch.device) -> Tensor:
    """Logits (N, C) of ``model`` in eval mode, in chunks of ``batch_size``, on the CPU."""
    model.eval()
    return torch.cat([model(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)])


def mean_over_seeds(per_seed: list[Tensor], name: str) -> Tensor:
    """The (N,) float32 mean of per-seed scores; NaN (an example no seed saw) is averaged out, and
    an example that no seed scored is an error naming how many."""
    stacked = torch.stack(per_seed).double()  # (S, N)
    seen = ~torch.isnan(stacked)
    count = seen.sum(0)
    if bool((count == 0).any()):
        raise DanluError(f"{name}: {int((count == 0).sum())} examples were never in a training batch; "
                         f"train for more epochs or seeds, or use a batch_size that divides N")
    total = torch.where(seen, stacked, torch.zeros((), dtype=stacked.dtype)).sum(0)
    return (total / count).float()


def score_over_seeds(name: str, label: str, model_factory: ModelFactory, dataset: TensorDataset, *,
                     score: Callable[[nn.Module, Any, torch.device], Tensor], epochs: int,
                     seeds: int | Sequence[int], batch_size: int, device: torch.device | str | None,
                     optimizer: OptimizerFactory | None, progress: bool, tracker: Callable[[int], Any] | None = None,
                     needs_training: str = "") -> Tensor:
    """The loop every score shares: per seed, train a scorer, score every example; the mean over seeds (N,).

    ``score(model, callback, device)`` gives the per-example values of one trained scorer;
    ``tracker(n)`` (optional) builds a trainer callback for ``n`` examples that records during training
    (forgetting, AUM), handed to ``score`` as ``callback``. ``needs_training`` (non-empty) says why
    the score needs ``epochs >= 1``.
    """
    from danlu.runtime import resolve_device

    _, y = check_dataset(dataset)
    check_counts(epochs, batch_size)
    if needs_training and epochs < 1:
        raise DanluError(f"{name} needs epochs >= 1 ({needs_training}), got {epochs}")
    dev, seeds = resolve_device(device), seed_list(seeds)
    per_seed = []
    with progress_bar(label, len(seeds), progress) as advance:
        for s in seeds:
            cb = tracker(len(y)) if tracker is not None else None
            model = train_scorer(model_factory, dataset, seed=s, epochs=epochs, batch_size=batch_size, device=dev,
                                 optimizer=optimizer, callbacks=[cb] if cb is not None else ())
            per_seed.append(score(model, cb, dev))
            advance(1)
    return mean_over_seeds(per_seed, name)
