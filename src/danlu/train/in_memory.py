"""``fit``: train objects in memory through the same engine as ``danlu train``, with no run folder.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from danlu.train import fit
    >>> x = torch.randn(256, 4); data = TensorDataset(x, (x[:, 0] > 0).long())
    >>> model = torch.nn.Linear(4, 2)
    >>> result = fit("classification", model, data, steps=50, seed=0, batch_size=32,
    ...              optimizer=torch.optim.SGD(model.parameters(), lr=0.5))
    >>> result.state.step
    50

What ``fit`` adds to the :class:`~danlu.train.engine.Engine` is the plumbing a run folder would
otherwise give: a batch order from ``seed`` (:class:`TensorBatches`), optimizers (given, or built
by the task from the config defaults), a config carrying ``loop`` settings. The step itself
(autocast, accumulation, clipping, NaN guard, EMA, task hooks, callbacks) is the engine's, so a
card and ``danlu train`` train the same way. No checkpoints, logs or DDP: one process, in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.train.config import LoopConfig, TrainConfig
from danlu.train.data import eval_loader
from danlu.train.engine import Callback, Engine, LoopState, StepInfo, epochs_for
from danlu.train.tasks import Optimization, Task, create_task


class TensorBatches:
    """Mini-batches of in-memory tensors, cut from a chain of seeded permutations.

    One generator seeded with ``seed`` draws a permutation per epoch (epoch ``e`` uses its
    ``e+1``-th ``randperm``); an epoch is the ``len(x) // batch_size`` full batches of its
    permutation (the remainder is dropped). A batch larger than the data takes all of it, one
    batch per epoch, and the chain's first permutation goes unused (as in the lab cards' loop
    before the engine, which drew a new permutation whenever a batch did not fit). The order
    depends on (seed, epoch) only, and the global RNG is never touched. Batches are tuples of
    the tensors indexed on ``device``.
    """

    def __init__(self, tensors: Sequence[Tensor], batch_size: int, *, seed: int,
                 device: torch.device | None = None) -> None:
        device = device or torch.device("cpu")
        self.tensors = tuple(t.to(device) for t in tensors)
        self.n, self.batch_size, self.seed, self.device = len(self.tensors[0]), batch_size, seed, device
        if batch_size <= 0:
            raise DanluError(f"batch_size must be positive, got {batch_size}")
        if self.n == 0:
            raise DanluError("fit: the training data is empty")
        self._gen = torch.Generator().manual_seed(seed)
        self._drawn, self._perm = -1, torch.empty(0, dtype=torch.long)

    on_device = True  # the engine need not move the batches

    def __len__(self) -> int:
        return max(self.n // self.batch_size, 1)

    def permutation(self, epoch: int) -> Tensor:
        """The permutation of ``epoch`` (n,)."""
        if epoch < self._drawn:  # going back: replay the chain
            self._gen, self._drawn = torch.Generator().manual_seed(self.seed), -1
        while self._drawn < epoch:
            self._perm, self._drawn = torch.randperm(self.n, generator=self._gen), self._drawn + 1
        return self._perm

    def epoch(self, epoch: int, skip: int) -> Iterator[tuple[Tensor, ...]]:
        b = self.batch_size
        perm = self.permutation(epoch + 1 if self.n < b else epoch)
        for i in range(skip, len(self)):
            idx = perm[i * b:(i + 1) * b].to(self.device)
            yield tuple(t[idx] for t in self.tensors)  # (B, ...) each


@dataclass
class FitResult:
    """What :func:`fit` returns.

    Attributes:
        model: the trained model (the EMA's copy when ``loop.ema_decay`` > 0 is in ``ema_model``).
        state: the final loop position (steps, epochs, skipped steps).
        history: one record per finished epoch (train statistics, eval metrics when ``eval_data`` is given, lr).
        metrics: ``eval_data``'s metrics of the evaluated weights at the end (``val_`` prefix); {} without it.
        ema_model: the EMA weights, or None.
    """

    model: nn.Module
    state: LoopState
    history: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    ema_model: nn.Module | None = None


def fit(task: Task | str, model: nn.Module, data: TensorDataset, *, steps: int, seed: int,
        device: torch.device | str | None = None, batch_size: int = 64,
        optimizer: torch.optim.Optimizer | dict[str, torch.optim.Optimizer] | None = None,
        schedule: Any = None, loop: LoopConfig | None = None, eval_data: TensorDataset | None = None,
        callbacks: Sequence[Callback] = ()) -> FitResult:
    """Train ``model`` for ``steps`` optimizer steps on in-memory ``data`` with ``task``; no files are written.

    Args:
        task: a :class:`Task` instance or a registered name (built with its default args).
        model: the network, built (and seeded) by the caller; moved to ``device``. ``fit`` never
            reseeds torch's global RNG, so dropout continues the caller's random stream.
        data: the training tensors, e.g. ``TensorDataset(x (N, ...), y (N,))``.
        steps: optimizer steps to take (as many epochs as that needs).
        seed: fixes the batch order (:class:`TensorBatches`) and the task's own randomness.
        device: where to train (default: CPU).
        batch_size: micro-batch size (an optimizer step takes ``loop.accum_steps`` of them).
        optimizer: one optimizer, or ``{phase: optimizer}`` for a task with several; None: the task
            builds them from the config defaults (``optim`` / ``schedule`` sections).
        schedule: an LR scheduler stepped after each step of the optimizer (or ``{phase: scheduler}``).
        loop: accumulation, clipping, precision, EMA and NaN-guard settings (``epochs``,
            ``max_steps`` are ignored: ``steps`` counts); default ``LoopConfig()``.
        eval_data: evaluated with the task's metrics every ``loop.eval_every`` epochs and at the end.
        callbacks: ``fn(event, engine)`` hooks (``"step"``, ``"epoch"``, ``"end"``; see :mod:`danlu.train.engine`).

    Returns:
        :class:`FitResult`.
    """
    task = create_task(task) if isinstance(task, str) else task
    device = torch.device(device) if device is not None else torch.device("cpu")
    if steps < 0:
        raise DanluError(f"fit: steps must be non-negative, got {steps}")
    cfg = TrainConfig(loop=loop if loop is not None else LoopConfig(), seed=seed, device=str(device))
    task.to(device)
    model.to(device)
    if not isinstance(data, TensorDataset):
        raise DanluError(f"fit: data must be a TensorDataset of in-memory tensors, got {type(data).__name__}")
    task.setup(data)
    train_set = task.prepare(data)
    val_set = task.prepare(eval_data) if eval_data is not None else None
    batches = TensorBatches(train_set.tensors, batch_size, seed=seed, device=device)
    steps_per_epoch = len(batches) // cfg.loop.accum_steps
    if steps_per_epoch == 0:
        raise DanluError(f"loop.accum_steps={cfg.loop.accum_steps} exceeds the {len(batches)} batches per epoch")
    optimizers = _optimizations(task, model, cfg, steps, optimizer, schedule)
    val_loader = (eval_loader(val_set, cfg.data.eval_batch_size, rank=0, world_size=1)
                  if val_set is not None else None)
    model.zero_grad(set_to_none=True)
    engine = Engine(cfg, task, model, optimizers, batches, device=device, total_steps=steps,
                    epochs=epochs_for(steps, steps_per_epoch) if steps else 0, val_loader=val_loader,
                    callbacks=callbacks, seed=seed, samples_per_step=batch_size * cfg.loop.accum_steps)
    engine.run()
    metrics = engine.evaluate(engine.eval_model, val_loader, "val_") if val_loader is not None else {}
    engine.emit("end")
    return FitResult(model=model, state=engine.state, history=engine.history, metrics=metrics,
                     ema_model=engine.ema.module if engine.ema is not None else None)


def _optimizations(task: Task, model: nn.Module, cfg: TrainConfig, steps: int, optimizer: Any,
                   schedule: Any) -> dict[str, Optimization]:
    if optimizer is None:
        return task.build_optimizers(cfg, model, max(steps, 1))
    if isinstance(optimizer, torch.optim.Optimizer):
        if len(task.phases) != 1:
            raise DanluError(f"fit: task {task.name!r} trains {len(task.phases)} optimizers {task.phases}; "
                             f"pass optimizer={{phase: optimizer}}")
        return {task.phases[0]: Optimization(optimizer, schedule)}
    if not isinstance(optimizer, dict) or set(optimizer) != set(task.phases):
        raise DanluError(f"fit: optimizer must map the phases {task.phases} of task {task.name!r} to optimizers, "
                         f"got {type(optimizer).__name__}")
    schedules = schedule or {}
    return {k: Optimization(optimizer[k], schedules.get(k)) for k in task.phases}


__all__ = ["FitResult", "StepInfo", "TensorBatches", "fit"]
