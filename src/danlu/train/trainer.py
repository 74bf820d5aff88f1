"""The Trainer: one supervised training loop, meant to be read top to bottom.

    >>> from danlu.train import TrainConfig, Trainer, apply_overrides
    >>> cfg = apply_overrides(TrainConfig(), ["data.name=digits", "loop.epochs=1", "out_dir=/tmp/run"])
    >>> result = Trainer(cfg).fit()            # doctest: +SKIP
    >>> result.metrics["val_accuracy"]         # doctest: +SKIP

What one optimizer step does (``fit``): for each of ``accum_steps`` micro-batches, forward under
autocast and backward (inside ``no_sync`` except the last micro-batch under DDP); then unscale
(fp16), clip, check the loss and gradient norm for NaN/inf (skip and count the step if bad),
step the optimizer (through the GradScaler), step the LR schedule, update the EMA.

Around it: evaluation every ``eval_every`` epochs, logs every ``log.every_steps`` steps, atomic
checkpoints every ``checkpoint.every_steps`` steps and at every epoch end. A checkpoint holds
the model, optimizer, schedule, grad scaler, EMA, RNG states, loop position (epoch, micro-batch
in epoch, step) and the running meters, so a resumed run continues bit-for-bit (CPU, same
thread count). Under torchrun every process runs this same loop on its share of the data;
rank 0 alone logs and writes checkpoints; metrics are summed across ranks before dividing.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from danlu.errors import DanluError
from danlu.runtime import resolve_device, seed_everything
from danlu.train import distributed as dist
from danlu.train.build import build_loss, build_model, build_optimization, check_precision
from danlu.train.checkpoint import (
    CheckpointError,
    CheckpointManager,
    capture_rng,
    load_checkpoint,
    merge_state,
    plain_state,
    restore_rng,
)
from danlu.train.config import TrainConfig, from_dict, to_dict, to_yaml
from danlu.train.data import eval_loader, load_splits, train_loader
from danlu.train.log import RunLog
from danlu.train.metrics import metric_sums


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
class TrainResult:
    """What ``fit`` returns: final metrics, the run folder, the trained model and the loop state."""

    metrics: dict[str, Any]
    run_dir: pathlib.Path
    model: nn.Module
    state: LoopState
    history: list[dict[str, Any]] = field(default_factory=list)


#: A callback gets the event ("step", "epoch", "end") and the trainer (``.state``, ``.model``, ...).
Callback = Callable[[str, "Trainer"], None]


class Trainer:
    """Supervised training from a :class:`TrainConfig` (see the module docstring).

    Args:
        cfg: the run's configuration.
        callbacks: functions called as ``fn(event, trainer)`` after each step, epoch and at the end.
    """

    def __init__(self, cfg: TrainConfig, *, callbacks: Sequence[Callback] = ()) -> None:
        self.cfg = cfg
        self.callbacks = list(callbacks)
        self.state = LoopState()

    # ----------------------------------------------------------------------------------- the loop
    def fit(self, resume: bool | str | pathlib.Path | None = None) -> TrainResult:
        """Train; ``resume=True`` continues from the newest checkpoint in the run folder, a path from that file."""
        cfg, loop = self.cfg, self.cfg.loop
        device = resolve_device(cfg.device)
        info = self.dist = dist.init_from_env(device)
        if info.enabled and device.type == "cuda":
            device = torch.device("cuda", info.local_rank)
        run_dir = pathlib.Path(cfg.out_dir)
        ckpts = CheckpointManager(run_dir / "checkpoints", cfg.checkpoint.keep_last)
        saved = self._checkpoint_to_resume(resume, ckpts)
        amp_dtype, scaled = check_precision(loop.precision, device)

        # -- build everything from the config (same seed on every rank: same initial weights)
        seed_everything(cfg.seed)
        splits = load_splits(cfg.data, cfg.seed)
        model = self.model = build_model(cfg, splits).to(device)
        loader, sampler = train_loader(splits.train, cfg.data.batch_size, seed=cfg.seed, rank=info.rank,
                                       world_size=info.world_size, num_workers=cfg.data.num_workers)
        val_loader = eval_loader(splits.val, cfg.data.eval_batch_size, rank=info.rank, world_size=info.world_size)
        steps_per_epoch = len(loader) // loop.accum_steps
        if steps_per_epoch == 0:
            raise DanluError(f"loop.accum_steps={loop.accum_steps} exceeds the {len(loader)} batches per epoch")
        total_steps = loop.epochs * steps_per_epoch
        total_steps = min(total_steps, loop.max_steps) if loop.max_steps else total_steps
        optimizer, schedule = build_optimization(cfg, model, total_steps)
        self.optimizer = optimizer
        loss_fn = build_loss(cfg).to(device)
        scaler = torch.amp.GradScaler("cuda", enabled=scaled)
        ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(loop.ema_decay), use_buffers=True)
               if loop.ema_decay > 0 else None)
        trainable = [p for p in model.parameters() if p.requires_grad]
        n_meter = 2 + 2 * len(cfg.metrics)  # [loss sum, batches, (metric total, metric count) per metric]
        epoch_meter = torch.zeros(n_meter, device=device)
        log_meter = torch.zeros(n_meter, device=device)

        # -- restore a checkpoint: every piece of state, the RNG states last
        state = self.state = LoopState()
        if saved is not None:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            schedule.load_state_dict(merge_state(schedule.state_dict(), saved["schedule"]))
            scaler.load_state_dict(saved["scaler"])
            if ema is not None:
                ema.load_state_dict(saved["ema"])
            state = self.state = LoopState(**saved["loop"])
            epoch_meter.copy_(saved["meters"]["epoch"])
            log_meter.copy_(saved["meters"]["log"])
            restore_rng(saved["rng"])
        net = (DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
               if info.enabled else model)

        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "config.yaml").write_text(to_yaml(cfg))
            if saved is not None:
                RunLog.truncate_after(run_dir / "log.jsonl", state.step)
        log = RunLog(run_dir / "log.jsonl", enabled=info.is_main, progress=cfg.log.progress,
                     total_steps=total_steps)
        if saved is not None:
            log.message(f"resumed from step {state.step} (epoch {state.epoch}, batch {state.batch_in_epoch})")
            self._warn_config_changes(saved, log)
        history: list[dict[str, Any]] = []
        last_saved = state.step if saved is not None else -1
        eval_metrics: dict[str, float] = dict(saved.get("metrics", {})) if saved is not None else {}
        t_log, samples_log = time.perf_counter(), state.samples
        micro_per_epoch = steps_per_epoch * loop.accum_steps
        per_step_samples = cfg.data.batch_size * loop.accum_steps * info.world_size
        step_loss = torch.zeros((), device=device)  # loss summed over the micro-batches of one step

        try:
            while state.epoch < loop.epochs and state.step < total_steps:
                sampler.set_epoch(state.epoch)  # the order depends on (seed, epoch) only
                sampler.skip = state.batch_in_epoch * cfg.data.batch_size  # resume mid-epoch
                net.train()
                for x, y in loader:
                    if state.batch_in_epoch >= micro_per_epoch or state.step >= total_steps:
                        break
                    x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)  # (B, ...), (B,)
                    state.batch_in_epoch += 1
                    last_micro = state.batch_in_epoch % loop.accum_steps == 0
                    with net.no_sync() if (info.enabled and not last_micro) else nullcontext():
                        with torch.autocast(device.type, dtype=amp_dtype or torch.float32,
                                            enabled=amp_dtype is not None):
                            logits = net(x)  # (B, C)
                            loss = loss_fn(logits, y)  # ()
                        scaler.scale(loss / loop.accum_steps).backward()
                    stats = torch.cat([loss.detach().float().view(1), loss.new_ones(1, dtype=torch.float32),
                                       metric_sums(cfg.metrics, logits.detach().float(), y).flatten()])
                    epoch_meter += stats
                    log_meter += stats
                    first_micro = (state.batch_in_epoch - 1) % loop.accum_steps == 0
                    step_loss = loss.detach() if first_micro else step_loss + loss.detach()
                    if not last_micro:
                        continue

                    # ---- one optimizer step
                    state.step += 1
                    state.samples += per_step_samples
                    scaler.unscale_(optimizer)
                    params = [p for p in trainable if p.grad is not None]
                    if loop.grad_clip > 0:
                        grad_norm = torch.nn.utils.clip_grad_norm_(params, loop.grad_clip)
                    elif loop.nan_guard and not scaled:
                        grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params])
                    else:
                        grad_norm = torch.zeros((), device=device)
                    bad = False
                    if loop.nan_guard:  # fp16: the GradScaler handles gradient overflow itself
                        finite = torch.isfinite(step_loss) & (scaled or torch.isfinite(grad_norm))
                        bad = dist.any_rank(not bool(finite), info, device)
                    if bad:
                        state.bad_steps += 1
                        if scaled:
                            scaler.update()
                        log.message(f"step {state.step}: loss or gradient is NaN/inf; step skipped "
                                    f"({state.bad_steps}/{loop.max_bad_steps})")
                        log.write({"kind": "bad_step", "step": state.step, "epoch": state.epoch,
                                   "loss": float(step_loss), "grad_norm": float(grad_norm)})
                        if state.bad_steps >= loop.max_bad_steps:
                            raise TrainingDiverged(
                                f"training stopped at step {state.step}: {state.bad_steps} steps had a NaN/inf "
                                f"loss or gradient (loop.max_bad_steps={loop.max_bad_steps}); the last good "
                                f"checkpoint in {str(ckpts.folder)!r} is intact. Lower optim.lr, set "
                                f"loop.grad_clip, or check the data")
                    else:
                        scaler.step(optimizer)
                        scaler.update()
                        schedule.step()
                        if ema is not None:
                            ema.update_parameters(model)
                    optimizer.zero_grad(set_to_none=True)

                    # ---- log, checkpoint, callbacks
                    if state.step % cfg.log.every_steps == 0:
                        now = time.perf_counter()
                        record = {"kind": "step", "step": state.step, "epoch": state.epoch,
                                  **self._summarize(log_meter, "", info), "lr": optimizer.param_groups[0]["lr"],
                                  "samples/s": (state.samples - samples_log) / max(now - t_log, 1e-9)}
                        log.write(record)
                        log.progress(state.step, state.epoch, {k: v for k, v in record.items()
                                                               if k not in ("kind", "step", "epoch")})
                        log_meter.zero_()
                        t_log, samples_log = now, state.samples
                    if cfg.checkpoint.every_steps and state.step % cfg.checkpoint.every_steps == 0:
                        self._save(ckpts, state, info, model, optimizer, schedule, scaler, ema,
                                   epoch_meter, log_meter, eval_metrics, best=False)
                        last_saved = state.step
                    self._emit("step")

                if state.batch_in_epoch < micro_per_epoch:
                    break  # max_steps reached mid-epoch
                # ---- end of epoch: evaluate, log, checkpoint
                train_stats = self._summarize(epoch_meter, "train_", info)
                epoch_meter.zero_()
                state.epoch += 1
                state.batch_in_epoch = 0
                is_best = False
                if state.epoch % loop.eval_every == 0 or state.epoch == loop.epochs:
                    eval_metrics = self.evaluate(ema.module if ema is not None else model, val_loader, "val_")
                    is_best = self._is_better(eval_metrics[cfg.checkpoint.monitor], state.best)
                    if is_best:
                        state.best = eval_metrics[cfg.checkpoint.monitor]
                record = {"kind": "epoch", "step": state.step, "epoch": state.epoch, **train_stats, **eval_metrics,
                          "lr": optimizer.param_groups[0]["lr"], "bad_steps": state.bad_steps}
                history.append(record)
                log.write(record)
                log.message("epoch {epoch}: ".format(**record) + "  ".join(
                    f"{k} {v:.4f}" for k, v in record.items() if isinstance(v, float) and k != "lr"))
                if is_best or (cfg.checkpoint.every_epochs and state.epoch % cfg.checkpoint.every_epochs == 0):
                    self._save(ckpts, state, info, model, optimizer, schedule, scaler, ema,
                               epoch_meter, log_meter, eval_metrics, best=is_best)
                    last_saved = state.step
                self._emit("epoch")

            if state.step != last_saved:  # stopped by max_steps between checkpoints
                self._save(ckpts, state, info, model, optimizer, schedule, scaler, ema,
                           epoch_meter, log_meter, eval_metrics, best=False)
        finally:
            log.close(state.step)

        # -- final numbers: validation and test with the evaluated weights (EMA if on)
        final_model = ema.module if ema is not None else model
        test_loader = eval_loader(splits.test, cfg.data.eval_batch_size, rank=info.rank, world_size=info.world_size)
        metrics: dict[str, Any] = {**self.evaluate(final_model, val_loader, "val_"),
                                   **self.evaluate(final_model, test_loader, "test_"),
                                   "steps": state.step, "epochs": state.epoch, "bad_steps": state.bad_steps,
                                   "processes": info.world_size}
        if info.is_main:
            (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
        self._emit("end")
        return TrainResult(metrics=metrics, run_dir=run_dir, model=final_model, state=state, history=history)

    # ------------------------------------------------------------------------------- helpers
    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: torch.utils.data.DataLoader, prefix: str) -> dict[str, float]:
        """Mean loss and metrics of ``model`` over ``loader``, summed across ranks before dividing."""
        cfg = self.cfg
        device = next(model.parameters()).device
        amp_dtype, _ = check_precision(cfg.loop.precision, device)
        loss_fn = build_loss(cfg).to(device)
        was_training = model.training
        model.eval()
        sums = torch.zeros(2 + 2 * len(cfg.metrics), device=device, dtype=torch.float64)
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            with torch.autocast(device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                logits = model(x)  # (B, C)
            loss = loss_fn(logits.float(), y)  # () mean over the batch
            sums += torch.cat([(loss * len(y)).view(1), loss.new_tensor([len(y)]),
                               metric_sums(cfg.metrics, logits.float(), y).flatten()]).double()
        model.train(was_training)
        dist.all_reduce_sum(sums, self.dist)
        out = {f"{prefix}loss": float(sums[0] / sums[1].clamp(min=1))}
        for i, name in enumerate(cfg.metrics):
            out[f"{prefix}{name}"] = float(sums[2 + 2 * i] / sums[3 + 2 * i].clamp(min=1))
        return out

    def _summarize(self, meter: torch.Tensor, prefix: str, info: dist.DistInfo) -> dict[str, float]:
        m = dist.all_reduce_sum(meter.detach().clone().double(), info)
        out = {f"{prefix}loss": float(m[0] / m[1].clamp(min=1))}
        for i, name in enumerate(self.cfg.metrics):
            out[f"{prefix}{name}"] = float(m[2 + 2 * i] / m[3 + 2 * i].clamp(min=1))
        return out

    def _is_better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.cfg.checkpoint.mode == "max" else value < best

    def _save(self, ckpts: CheckpointManager, state: LoopState, info: dist.DistInfo, model: nn.Module,
              optimizer: torch.optim.Optimizer, schedule: Any, scaler: torch.amp.GradScaler,
              ema: AveragedModel | None, epoch_meter: torch.Tensor, log_meter: torch.Tensor,
              metrics: dict[str, float], *, best: bool) -> None:
        if not info.is_main:
            return
        ckpts.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "schedule": plain_state(schedule.state_dict()), "scaler": scaler.state_dict(),
                    "ema": ema.state_dict() if ema is not None else None, "rng": capture_rng(),
                    "loop": dataclasses.asdict(state), "meters": {"epoch": epoch_meter.cpu(), "log": log_meter.cpu()},
                    "metrics": dict(metrics), "config": to_dict(self.cfg)}, state.step, best=best)

    def _checkpoint_to_resume(self, resume: bool | str | pathlib.Path | None,
                              ckpts: CheckpointManager) -> dict[str, Any] | None:
        if resume is None or resume is False:
            if ckpts.step_checkpoints():
                raise DanluError(f"run folder {str(ckpts.folder.parent)!r} already holds checkpoints; pass "
                                 f"--resume to continue that run, or choose another --out")
            return None
        if resume is True or resume == "auto":
            if not ckpts.step_checkpoints():
                return None  # nothing to resume: a fresh run (handy for preemptible jobs)
            return ckpts.load_latest()[1]
        return load_checkpoint(resume)

    def _warn_config_changes(self, saved: dict[str, Any], log: RunLog) -> None:
        try:
            before = to_dict(from_dict(saved["config"]))
        except DanluError:
            return
        now = to_dict(self.cfg)
        changed = [f"{s}.{k}" if isinstance(now[s], dict) else s for s in now for k in
                   (now[s] if isinstance(now[s], dict) else [None])
                   if (now[s].get(k) if k else now[s]) != (before[s].get(k) if k else before[s])]
        if changed:
            log.message(f"note: config differs from the checkpoint's in: {', '.join(changed)}")

    def _emit(self, event: str) -> None:
        for cb in self.callbacks:
            cb(event, self)


def train(cfg: TrainConfig, *, resume: bool | str | pathlib.Path | None = None,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """``Trainer(cfg, callbacks=callbacks).fit(resume)``."""
    return Trainer(cfg, callbacks=callbacks).fit(resume)


__all__ = ["CheckpointError", "LoopState", "TrainResult", "Trainer", "TrainingDiverged", "train"]
