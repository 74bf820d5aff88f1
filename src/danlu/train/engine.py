"""The engine: the one training loop every task runs through, meant to be read top to bottom.

What is common to every model lives here; what differs is the task's (:mod:`danlu.train.tasks`).
One engine step trains one of the task's optimizers (the phase :meth:`Task.next_phase` names):

    for each of ``accum_steps`` micro-batches: forward the task's ``training_step`` under autocast and
    backward ``loss / accum_steps`` (``loss`` when it is 1) (inside ``no_sync`` except the last micro-batch under DDP);
    then unscale (fp16), clip the phase's gradients, check the loss and gradients for NaN/inf
    (skip and count the step if bad), step the phase's optimizer through the GradScaler and its
    LR schedule, zero every gradient, run the task's ``on_step_end``, update the EMA.

Around it: evaluation every ``eval_every`` epochs, logs every ``log.every_steps`` steps, atomic
checkpoints every ``checkpoint.every_steps`` steps and at epoch ends, callbacks. A checkpoint holds
the model, every optimizer and schedule, the grad scaler, the EMA, the task's own state, the RNG
states, the loop position and the running meters, so a resumed run continues bit-for-bit (CPU,
same thread count). Under torchrun each process runs this loop on its share of the data; rank 0
alone logs and writes checkpoints; statistics are summed across ranks before dividing.

Two front doors build an engine: :class:`danlu.train.Trainer` (a config and a run folder, what
``danlu train`` runs) and :func:`danlu.train.fit` (objects in memory, no folder, what the lab cards use).

Callbacks (the library user's per-step hook, no subclassing): ``fn(event, engine)`` with
``event`` in ``"step"`` (after every optimizer step), ``"epoch"`` (after every epoch) and ``"end"``;
``engine.state`` is the loop position, ``engine.model`` the model, ``engine.last`` a
:class:`StepInfo` about the step just taken (loss, lr, phase, skipped, batch, task outputs).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack, nullcontext
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from danlu.errors import DanluError
from danlu.train import distributed as dist
from danlu.train.build import check_precision
from danlu.train.checkpoint import (
    CheckpointManager,
    capture_rng,
    load_module_state,
    merge_state,
    plain_state,
    restore_rng,
)
from danlu.train.config import TrainConfig, to_dict
from danlu.train.guard import FiniteCheck
from danlu.train.log import RunLog
from danlu.train.tasks import Context, Optimization, Task

_NO_SYNC = nullcontext()  # reusable: nullcontext keeps no state


class TrainingDiverged(DanluError):
    """Too many steps had a NaN/inf loss or gradient; the last good checkpoint is left intact."""


@dataclass
class LoopState:
    """Where the loop is; saved in every checkpoint."""

    step: int = 0  # optimizer steps taken, skipped (bad) ones included
    epoch: int = 0  # current epoch (0-based)
    batch_in_epoch: int = 0  # micro-batches of the current epoch already consumed (this rank)
    bad_steps: int = 0  # steps skipped by the NaN/inf guard
    best: float | None = None  # best value of checkpoint.monitor so far
    samples: int = 0  # training samples seen, all ranks


@dataclass
class StepInfo:
    """The step just taken, as callbacks see it in ``engine.last``.

    Attributes:
        step: optimizer steps taken, this one included.
        epoch: the epoch it belongs to (0-based).
        phase: the optimizer it trained.
        loss: () the loss, summed over the step's micro-batches (a detached tensor).
        lr: the learning rate this step used (the phase optimizer's first group, before the schedule stepped).
        skipped: the NaN guard skipped it.
        batch: the last micro-batch (on the device).
        outputs: the task's ``StepOutput.outputs`` for that micro-batch (e.g. logits).
    """

    step: int
    epoch: int
    phase: str
    loss: torch.Tensor
    lr: float
    skipped: bool
    batch: Any
    outputs: Any


class Batches(Protocol):
    """A source of training micro-batches, epoch by epoch (``data.LoaderBatches``, ``in_memory.TensorBatches``)."""

    def __len__(self) -> int:
        """Micro-batches per epoch on this rank."""
        ...

    def epoch(self, epoch: int, skip: int) -> Iterable[Any]:
        """The batches of ``epoch`` after its first ``skip``; the order depends on (seed, epoch) only."""
        ...


#: ``fn(event, engine)``, event in "step", "epoch", "end".
Callback = Callable[[str, "Engine"], None]


class Engine:
    """Runs a task's training (see the module docstring).

    Args:
        cfg: supplies ``loop``, ``checkpoint`` and ``log`` settings and the config stored in checkpoints.
        task: what a step and an evaluation are.
        model: the model (on ``device``); DDP wrapping happens in :meth:`run`.
        optimizers: one :class:`Optimization` per task phase.
        batches: the training micro-batches of each epoch.
        device: where training runs.
        total_steps: optimizer steps to take; epochs: passes over ``batches`` at most.
        info: this process's DDP place (one process by default).
        val_loader: evaluated at epoch ends (``loop.eval_every``); None: no evaluation.
        checkpoints: where checkpoints go; None: none are written.
        log: JSONL log and progress bar; None: nothing is logged.
        callbacks: ``fn(event, engine)`` hooks.
        seed: the run's seed, passed to the task in its :class:`Context`.
        samples_per_step: training samples per optimizer step over all ranks (for samples/s).
    """

    def __init__(self, cfg: TrainConfig, task: Task, model: nn.Module, optimizers: dict[str, Optimization],
                 batches: Batches, *, device: torch.device, total_steps: int, epochs: int,
                 info: dist.DistInfo | None = None, val_loader: Iterable[Any] | None = None,
                 checkpoints: CheckpointManager | None = None, log: RunLog | None = None,
                 callbacks: Sequence[Callback] = (), seed: int = 0, samples_per_step: int = 0) -> None:
        missing = [p for p in task.phases if p not in optimizers]
        if missing:
            raise DanluError(f"task {task.name!r} needs optimizers for {missing}; got {sorted(optimizers)}")
        loop = cfg.loop
        self.cfg, self.task, self.model, self.optimizers, self.batches = cfg, task, model, optimizers, batches
        self.device, self.total_steps, self.epochs = device, total_steps, epochs
        self.info = info or dist.DistInfo()
        self.val_loader, self.checkpoints, self.callbacks = val_loader, checkpoints, list(callbacks)
        self._logging = log is not None  # the same on every rank: logging sums meters across ranks
        self.log = log or RunLog(None, enabled=False, progress=False, total_steps=total_steps)
        self.samples_per_step = samples_per_step
        amp_dtype, self.scaled = check_precision(loop.precision, device)
        self.ctx = Context(device=device, amp_dtype=amp_dtype, info=self.info, seed=seed, model=model)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.scaled)
        self.ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(loop.ema_decay), use_buffers=True)
                    if loop.ema_decay > 0 else None)
        trainable = [p for p in model.parameters() if p.requires_grad]
        self._phase_params = {}  # phase -> its optimizer's trainable parameters, in model order
        for phase, opt in optimizers.items():
            ids = {id(p) for group in opt.optimizer.param_groups for p in group["params"]}
            self._phase_params[phase] = [p for p in trainable if id(p) in ids]
        self._finite = {phase: FiniteCheck(ps) for phase, ps in self._phase_params.items()}
        self.stat_names = task.stat_names()
        self.epoch_meter = torch.zeros(2 * len(self.stat_names), device=device)  # (total, count) per stat
        self.log_meter = torch.zeros(2 * len(self.stat_names), device=device)
        self.state = LoopState()
        self.eval_metrics: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.last: StepInfo | None = None
        self.net: nn.Module = model
        self._ddp: list[DistributedDataParallel] = []
        self._last_saved = -1

    @property
    def eval_model(self) -> nn.Module:
        """The weights evaluation uses: the EMA when ``loop.ema_decay`` > 0, else the model."""
        return self.ema.module if self.ema is not None else self.model

    # ------------------------------------------------------------------------------- the loop
    def run(self) -> None:
        """Train until ``total_steps`` optimizer steps or ``epochs`` epochs, whichever comes first."""
        loop, state, ctx, task = self.cfg.loop, self.state, self.ctx, self.task
        self.net = net = task.wrap(self.model, self._wrap)
        micro_per_epoch = (len(self.batches) // loop.accum_steps) * loop.accum_steps
        on_device = getattr(self.batches, "on_device", False)  # batches already on self.device
        accum, total, log_every, ckpt_every = loop.accum_steps, self.total_steps, self.cfg.log.every_steps, \
            self.cfg.checkpoint.every_steps
        t_log, samples_log = time.perf_counter(), state.samples
        step_loss = torch.zeros((), device=self.device)  # loss summed over the micro-batches of one step
        try:
            while state.epoch < self.epochs and state.step < total:
                net.train()
                ctx.epoch = state.epoch
                for batch in self.batches.epoch(state.epoch, state.batch_in_epoch):
                    if state.batch_in_epoch >= micro_per_epoch or state.step >= total:
                        break
                    if not on_device:
                        batch = task.to_device(batch, self.device)
                    state.batch_in_epoch += 1
                    first_micro = accum == 1 or (state.batch_in_epoch - 1) % accum == 0
                    last_micro = accum == 1 or state.batch_in_epoch % accum == 0
                    if first_micro:
                        ctx.step, ctx.phase = state.step, task.next_phase()
                    with self._no_sync() if (self._ddp and not last_micro) else _NO_SYNC:
                        with ctx.autocast():
                            out = task.training_step(net, batch, ctx)
                        loss = out.loss / accum if accum > 1 else out.loss
                        (self.scaler.scale(loss) if self.scaled else loss).backward()
                    self.epoch_meter += out.stats
                    if self._logging:
                        self.log_meter += out.stats
                    step_loss = out.loss.detach() if first_micro else step_loss + out.loss.detach()
                    if not last_micro:
                        continue

                    self._optimizer_step(step_loss, batch, out.outputs)
                    if self._logging and state.step % log_every == 0:
                        now = time.perf_counter()
                        record = {"kind": "step", "step": state.step, "epoch": state.epoch,
                                  **self._summarize(self.log_meter, ""), **self._lrs(),
                                  "samples/s": (state.samples - samples_log) / max(now - t_log, 1e-9)}
                        self.log.write(record)
                        self.log.progress(state.step, state.epoch, {k: v for k, v in record.items()
                                                                    if k not in ("kind", "step", "epoch")})
                        self.log_meter.zero_()
                        t_log, samples_log = now, state.samples
                    if ckpt_every and state.step % ckpt_every == 0:
                        self.save(best=False)
                    self.emit("step")

                if state.batch_in_epoch < micro_per_epoch:
                    break  # total_steps reached mid-epoch
                self._end_epoch()

            if state.step != self._last_saved:  # stopped by total_steps between checkpoints
                self.save(best=False)
        finally:
            self.log.close(state.step)

    def _optimizer_step(self, step_loss: torch.Tensor, batch: Any, outputs: Any) -> None:
        """Clip, guard, step the phase's optimizer and schedule, zero the gradients, update the EMA."""
        loop, state, ctx = self.cfg.loop, self.state, self.ctx
        opt = self.optimizers[ctx.phase]
        state.step += 1
        state.samples += self.samples_per_step
        lr = opt.optimizer.param_groups[0]["lr"]
        if self.scaled:
            self.scaler.unscale_(opt.optimizer)
        params = ([p for p in self._phase_params[ctx.phase] if p.grad is not None]
                  if loop.grad_clip > 0 or loop.nan_guard else [])
        grad_norm = torch.nn.utils.clip_grad_norm_(params, loop.grad_clip) if loop.grad_clip > 0 else None
        bad = False
        if loop.nan_guard:  # fp16: the GradScaler handles gradient overflow itself
            if self.scaled:
                finite = bool(torch.isfinite(step_loss))
            elif grad_norm is not None:
                finite = bool(torch.isfinite(step_loss) & torch.isfinite(grad_norm))
            else:
                finite = self._finite[ctx.phase](step_loss)
            bad = dist.any_rank(not finite, self.info, self.device)
        if bad:
            state.bad_steps += 1
            if self.scaled:
                self.scaler.update()
            self.log.message(f"step {state.step}: loss or gradient is NaN/inf; step skipped "
                             f"({state.bad_steps}/{loop.max_bad_steps})")
            self.log.write({"kind": "bad_step", "step": state.step, "epoch": state.epoch,
                            "loss": float(step_loss), "grad_norm": float(
                                grad_norm if grad_norm is not None else
                                torch.nn.utils.get_total_norm([p.grad for p in params]))})
            if state.bad_steps >= loop.max_bad_steps:
                where = (f"the last good checkpoint in {str(self.checkpoints.folder)!r} is intact"
                         if self.checkpoints is not None else "no checkpoints are kept in memory training")
                raise TrainingDiverged(
                    f"training stopped at step {state.step}: {state.bad_steps} steps had a NaN/inf "
                    f"loss or gradient (loop.max_bad_steps={loop.max_bad_steps}); {where}. Lower optim.lr, "
                    f"set loop.grad_clip, or check the data")
        else:
            if self.scaled:
                self.scaler.step(opt.optimizer)
                self.scaler.update()
            else:
                opt.optimizer.step()
            if opt.schedule is not None:
                opt.schedule.step()
        for phase, o in self.optimizers.items():  # other phases' too, when this step left gradients there
            if phase == ctx.phase or any(p.grad is not None for p in self._phase_params[phase]):
                o.optimizer.zero_grad(set_to_none=True)
        ctx.step, ctx.skipped = state.step, bad
        self.task.on_step_end(ctx)
        if not bad and self.ema is not None:
            self.ema.update_parameters(self.model)
        self.last = StepInfo(state.step, state.epoch, ctx.phase, step_loss, lr, bad, batch, outputs)

    def _end_epoch(self) -> None:
        """Summarize the epoch, evaluate (every ``eval_every`` epochs and the last), log, checkpoint."""
        loop, state = self.cfg.loop, self.state
        train_stats = self._summarize(self.epoch_meter, "train_")
        self.epoch_meter.zero_()
        state.epoch += 1
        state.batch_in_epoch = 0
        is_best = False
        if self.val_loader is not None and (state.epoch % loop.eval_every == 0 or state.epoch == self.epochs):
            self.eval_metrics = self.evaluate(self.eval_model, self.val_loader, "val_")
            monitor = self.monitor
            is_best = self._is_better(self.eval_metrics[monitor], state.best)
            if is_best:
                state.best = self.eval_metrics[monitor]
        record = {"kind": "epoch", "step": state.step, "epoch": state.epoch, **train_stats, **self.eval_metrics,
                  **self._lrs(), "bad_steps": state.bad_steps}
        self.history.append(record)
        if self.log.enabled:
            self.log.write(record)
            self.log.message("epoch {epoch}: ".format(**record) + "  ".join(
                f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float) and not k.startswith("lr")))
        every = self.cfg.checkpoint.every_epochs
        if is_best or (every and state.epoch % every == 0):
            self.save(best=is_best)
        self.emit("epoch")

    # ------------------------------------------------------------------------------- helpers
    def evaluate(self, model: nn.Module, loader: Iterable[Any], prefix: str) -> dict[str, float]:
        """The task's metrics of ``model`` over ``loader``, each name prefixed (``val_``, ``test_``)."""
        self.ctx.split = prefix.rstrip("_")
        try:
            return {f"{prefix}{k}": v for k, v in self.task.evaluate(model, loader, self.ctx).items()}
        finally:
            self.ctx.split = "train"

    @property
    def monitor(self) -> str:
        """The validation metric that picks ``best.pt``."""
        return self.cfg.checkpoint.monitor or f"val_{self.task.default_monitor}"

    def _lrs(self) -> dict[str, float]:
        if len(self.optimizers) == 1:
            return {"lr": next(iter(self.optimizers.values())).optimizer.param_groups[0]["lr"]}
        return {f"lr_{k}": o.optimizer.param_groups[0]["lr"] for k, o in self.optimizers.items()}

    def _wrap(self, module: nn.Module) -> nn.Module:
        if not self.info.enabled:
            return module
        ddp = DistributedDataParallel(module, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        self._ddp.append(ddp)
        return ddp

    def _no_sync(self) -> ExitStack:
        stack = ExitStack()
        for ddp in self._ddp:
            stack.enter_context(ddp.no_sync())
        return stack

    def _summarize(self, meter: torch.Tensor, prefix: str) -> dict[str, float]:
        m = dist.all_reduce_sum(meter.detach().clone().double(), self.info)
        return {f"{prefix}{name}": float(m[2 * i] / m[2 * i + 1].clamp(min=1)) for i, name in enumerate(self.stat_names)}

    def _is_better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.cfg.checkpoint.mode == "max" else value < best

    def emit(self, event: str) -> None:
        """Call every callback with ``(event, self)``."""
        for cb in self.callbacks:
            cb(event, self)

    # ------------------------------------------------------------------------------- checkpoints
    def save(self, *, best: bool) -> None:
        """Write a checkpoint of everything (rank 0; nothing when there is no checkpoint folder)."""
        self._last_saved = self.state.step
        if self.checkpoints is None or not self.info.is_main:
            return
        single = len(self.optimizers) == 1
        opts = {k: o.optimizer.state_dict() for k, o in self.optimizers.items()}
        scheds = {k: plain_state(o.schedule.state_dict()) if o.schedule is not None else {}
                  for k, o in self.optimizers.items()}
        self.checkpoints.save({
            "model": self.model.state_dict(),
            "optimizer": next(iter(opts.values())) if single else opts,
            "schedule": next(iter(scheds.values())) if single else scheds,
            "scaler": self.scaler.state_dict(), "ema": self.ema.state_dict() if self.ema is not None else None,
            "rng": capture_rng(), "loop": dataclasses.asdict(self.state),
            "meters": {"epoch": self.epoch_meter.cpu(), "log": self.log_meter.cpu()},
            "metrics": dict(self.eval_metrics), "config": to_dict(self.cfg),
            **({"task": self.task.state_dict()} if self.task.state_dict() else {}),
        }, self.state.step, best=best)

    def restore(self, saved: dict[str, Any]) -> None:
        """Load every piece of state from a checkpoint, the RNG states last."""
        load_module_state(self.model, saved["model"])  # a model that does not fit: one line naming the keys
        single = len(self.optimizers) == 1
        for k, o in self.optimizers.items():
            o.optimizer.load_state_dict(saved["optimizer"] if single else saved["optimizer"][k])
            if o.schedule is not None:
                o.schedule.load_state_dict(merge_state(o.schedule.state_dict(),
                                                       saved["schedule"] if single else saved["schedule"][k]))
        self.scaler.load_state_dict(saved["scaler"])
        if self.ema is not None:
            self.ema.load_state_dict(saved["ema"])
        self.task.load_state_dict(saved.get("task", {}))
        self.state = LoopState(**saved["loop"])
        self.epoch_meter.copy_(saved["meters"]["epoch"])
        self.log_meter.copy_(saved["meters"]["log"])
        self.eval_metrics = dict(saved.get("metrics", {}))
        self._last_saved = self.state.step
        restore_rng(saved["rng"])


def epochs_for(steps: int, steps_per_epoch: int) -> int:
    """Epochs needed for ``steps`` optimizer steps at ``steps_per_epoch``."""
    return math.ceil(steps / steps_per_epoch)
