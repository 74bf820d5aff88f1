"""The task interface: what differs between kinds of model; the engine owns everything else.

A task says what one training step computes, how a model is evaluated and which optimizers it
needs; the engine (:mod:`danlu.train.engine`) runs devices, DDP, autocast and the GradScaler,
gradient accumulation, clipping, the NaN guard, the EMA, checkpoints with exact resume, logging
and progress around it, the same way for every task.

A task with several optimizers names them in ``phases`` (``("critic", "generator")`` for a GAN);
each engine step steps exactly one of them, the one :meth:`Task.next_phase` returns, so an
``n_critic`` schedule is a counter in the task. Whatever the task counts lives in
:meth:`Task.state_dict`, saved in every checkpoint and restored on resume.

Write a task as a subclass of :class:`Task` registered in ``TASKS`` (see ``tasks/__init__.py``);
``docs/train.md`` walks through one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from danlu.train import distributed as dist

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig


_NO_AUTOCAST = nullcontext()  # reusable: nullcontext keeps no state


@dataclass
class NoArgs:
    """A task without fields of its own."""


@dataclass
class StepOutput:
    """What :meth:`Task.training_step` returns for one micro-batch.

    Attributes:
        loss: () the loss to backpropagate (a mean over the micro-batch).
        stats: (2K,) float32 sufficient statistics, a (total, count) pair per name in
            :meth:`Task.stat_names`; the engine sums them over steps and ranks and logs total / count.
        outputs: what the model produced (logits, samples), for callbacks; the engine ignores it.
    """

    loss: Tensor
    stats: Tensor
    outputs: Any = None


@dataclass
class Optimization:
    """One optimizer and its LR schedule (stepped after each step of that optimizer), or no schedule."""

    optimizer: torch.optim.Optimizer
    schedule: Any = None


@dataclass
class Context:
    """What the engine tells a task during a step or an evaluation (one object, updated in place).

    Attributes:
        device: where the model and batches live.
        amp_dtype: the autocast dtype (None: fp32).
        info: this process's place under DDP (rank, world size).
        seed: the run's seed (for task randomness that must not depend on the rank or the batch order).
        step: optimizer steps taken so far (during a step: before it; in ``on_step_end``: including it).
        epoch: the current epoch (0-based).
        phase: which optimizer this step trains (one of the task's ``phases``).
        skipped: in ``on_step_end``: the NaN guard skipped this step.
        model: the model being trained (not DDP-wrapped), for hooks that change it (clipping, freezing).
        split: ``"train"`` during steps; during an evaluation the split evaluated (``"val"``, ``"test"``).
    """

    device: torch.device
    amp_dtype: torch.dtype | None = None
    info: dist.DistInfo = field(default_factory=dist.DistInfo)
    seed: int = 0
    step: int = 0
    epoch: int = 0
    phase: str = ""
    skipped: bool = False
    model: nn.Module | None = None
    split: str = "train"

    def autocast(self) -> AbstractContextManager:
        """The autocast region of the run's precision (a no-op in fp32)."""
        if self.amp_dtype is None:
            return _NO_AUTOCAST
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def all_reduce_sum(self, t: Tensor) -> Tensor:
        """Sum ``t`` over DDP ranks in place (a no-op for one process) and return it."""
        return dist.all_reduce_sum(t, self.info)


class Task:
    """What differs between models: the step, the evaluation, the optimizers and the task's hooks.

    Class attributes:
        name: the registry name.
        Args: dataclass of the task's own config fields (``task.args``), each with
            ``metadata={"doc": ...}`` so ``danlu train --print-config`` documents it.
        phases: names of the optimizers, in the order :meth:`build_optimizers` returns them.
        reads: the config sections :meth:`from_config` and the build methods use (the others are
            marked "not used" by ``--print-config``).
        default_monitor: the validation metric that picks ``best.pt`` when ``checkpoint.monitor`` is null.
    """

    name: ClassVar[str] = ""
    Args: ClassVar[type] = NoArgs
    phases: ClassVar[tuple[str, ...]] = ("main",)
    reads: ClassVar[tuple[str, ...]] = ("data", "optim", "schedule")
    default_monitor: ClassVar[str] = "loss"

    def __init__(self, args: Any = None) -> None:
        self.args = args if args is not None else self.Args()

    # -------------------------------------------------------------- building from a config
    @classmethod
    def from_config(cls, cfg: TrainConfig) -> Task:
        """The task for a validated config (``task.args`` parsed into :attr:`Args`)."""
        return cls(parse_args(cls, cfg.task.args))

    @classmethod
    def check_args(cls, args: Any, where: str = "task.args") -> None:
        """Value checks on parsed :attr:`Args` the types cannot express (raise ConfigError naming the field)."""

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        """Names of the metrics :meth:`evaluate` returns for ``cfg`` (unprefixed)."""
        raise NotImplementedError

    def build_data(self, cfg: TrainConfig) -> Splits:
        """Train/val/test splits from ``cfg.data`` (default: the dataset registry or ``data.path``),
        with ``data.subset`` and ``data.augment`` applied to the training split."""
        from danlu.train.data import load_splits
        from danlu.train.data_options import apply_data_options

        return apply_data_options(load_splits(cfg.data, cfg.seed), cfg)

    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        """The network(s), sized for ``splits``; built right after seeding, so the weights follow ``cfg.seed``."""
        raise NotImplementedError

    def build_optimizers(self, cfg: TrainConfig, model: nn.Module, total_steps: int) -> dict[str, Optimization]:
        """One :class:`Optimization` per phase, from ``cfg.optim`` and ``cfg.schedule``."""
        raise NotImplementedError

    def to(self, device: torch.device) -> Task:
        """Move the modules the task holds (a loss with buffers) to ``device``; returns the task."""
        for value in vars(self).values():
            if isinstance(value, nn.Module):
                value.to(device)
        return self

    # -------------------------------------------------------------- data the steps see
    def prepare(self, ds: Dataset) -> Dataset:
        """The dataset as this task's steps and evaluation see it (default: unchanged)."""
        return ds

    def setup(self, train: Dataset) -> None:
        """Called once before training with the training split as loaded (before :meth:`prepare`):
        learn what evaluation needs."""

    # -------------------------------------------------------------- one step
    def stat_names(self) -> list[str]:
        """Names of the (total, count) pairs in :attr:`StepOutput.stats`; ``train_<name>`` in the log."""
        return ["loss"]

    def wrap(self, model: nn.Module, wrap: Callable[[nn.Module], nn.Module]) -> nn.Module:
        """The module :meth:`training_step` calls; ``wrap`` puts a module under DDP (identity for one process).

        Tasks whose networks train in turns (a GAN) wrap each network separately.
        """
        return wrap(model)

    def next_phase(self) -> str:
        """Which optimizer the next step trains (default: the only one)."""
        return self.phases[0]

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        """Forward one micro-batch (under the engine's autocast) and return the loss and statistics."""
        raise NotImplementedError

    def to_device(self, batch: Any, device: torch.device) -> Any:
        """Move a batch to ``device`` (default: a tuple or list of tensors)."""
        return tuple(t.to(device, non_blocking=True) for t in batch)

    def on_step_end(self, ctx: Context) -> None:
        """After every optimizer step (``ctx.skipped`` when the NaN guard skipped it), before logging,
        checkpoints and callbacks: counters, weight clipping, freezing."""

    # -------------------------------------------------------------- evaluation and use
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Metrics of ``model`` over ``loader`` (this rank's share), summed across ranks before dividing."""
        raise NotImplementedError

    def predict(self, model: nn.Module, batch: Any) -> Tensor:
        """What the model outputs for a batch in use (eval mode is the caller's business)."""
        raise NotImplementedError

    # -------------------------------------------------------------- checkpointed state
    def state_dict(self) -> dict[str, Any]:
        """The task's own changing state (plain values), saved in every checkpoint."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""


def parse_args(task: type[Task], args: dict[str, Any] | None, where: str = "task.args") -> Any:
    """``args`` checked against ``task.Args`` (unknown keys and wrong types are named)."""
    from danlu.train.config import ConfigError, from_dict

    if args and not dataclasses.fields(task.Args):
        raise ConfigError(f"{where}: task {task.name!r} has no fields of its own, got {', '.join(map(repr, args))}")
    parsed = from_dict(dict(args or {}), task.Args, where)
    task.check_args(parsed, where)
    return parsed


def args_dict(args: Any) -> dict[str, Any]:
    """A task's Args as a plain dict (the form ``task.args`` takes in a config)."""
    return dataclasses.asdict(args)
