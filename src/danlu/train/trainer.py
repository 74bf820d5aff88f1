"""The Trainer: ``danlu train``'s front door to the engine, from a config to a run folder.

    >>> from danlu.train import TrainConfig, Trainer, apply_overrides
    >>> cfg = apply_overrides(TrainConfig(), ["data.name=digits", "loop.epochs=1", "out_dir=/tmp/run"])
    >>> result = Trainer(cfg).fit()            # doctest: +SKIP
    >>> result.metrics["val_accuracy"]         # doctest: +SKIP

``fit`` builds everything from the config through the task (``task.name``): data splits, model
(right after seeding, so the weights follow ``seed``), loaders sharded by rank, optimizers and
schedules; restores a checkpoint when resuming; hands all of it to the :class:`~danlu.train.engine.Engine`
(the loop: see that module); then evaluates the final weights on val and test and writes
``metrics.json``. The run folder holds config.yaml, log.jsonl, metrics.json and checkpoints/.
"""

from __future__ import annotations

import json
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from danlu.errors import DanluError
from danlu.files import write_text
from danlu.runtime import resolve_device, seed_everything
from danlu.train import distributed as dist
from danlu.train.build import check_precision
from danlu.train.checkpoint import CheckpointError, CheckpointManager, load_checkpoint
from danlu.train.config import TrainConfig, from_dict, to_dict, to_yaml
from danlu.train.data import LoaderBatches, eval_loader, train_loader
from danlu.train.engine import Callback, Engine, LoopState, TrainingDiverged
from danlu.train.log import RunLog
from danlu.train.tasks import TASKS


@dataclass
class TrainResult:
    """What ``fit`` returns: final metrics, the run folder, the trained model and the loop state."""

    metrics: dict[str, Any]
    run_dir: pathlib.Path
    model: nn.Module
    state: LoopState
    history: list[dict[str, Any]] = field(default_factory=list)


class Trainer:
    """Training from a :class:`TrainConfig` into a run folder (see the module docstring).

    Args:
        cfg: the run's configuration.
        callbacks: functions called as ``fn(event, engine)`` after each step, epoch and at the end
            (``engine.state``, ``engine.model``, ``engine.last``: see :mod:`danlu.train.engine`).
    """

    def __init__(self, cfg: TrainConfig, *, callbacks: Sequence[Callback] = ()) -> None:
        self.cfg = cfg
        self.callbacks = list(callbacks)
        self.state = LoopState()
        self.engine: Engine | None = None

    @property
    def model(self) -> nn.Module:
        """The model being trained (after ``fit`` has built it)."""
        if self.engine is None:
            raise DanluError("Trainer.model exists once fit() has built it")
        return self.engine.model

    def fit(self, resume: bool | str | pathlib.Path | None = None) -> TrainResult:
        """Train; ``resume=True`` continues from the newest checkpoint in the run folder, a path from that file."""
        cfg, loop = self.cfg, self.cfg.loop
        device = resolve_device(cfg.device)
        info = dist.init_from_env(device)
        if info.enabled and device.type == "cuda":
            device = torch.device("cuda", info.local_rank)
        run_dir = pathlib.Path(cfg.out_dir)
        ckpts = CheckpointManager(run_dir / "checkpoints", cfg.checkpoint.keep_last)
        saved = self._checkpoint_to_resume(resume, ckpts)
        check_precision(loop.precision, device)

        # -- build everything from the config (same seed on every rank: same initial weights)
        task = TASKS.get(cfg.task.name).from_config(cfg).to(device)
        seed_everything(cfg.seed)
        splits = task.build_data(cfg)
        task.setup(splits.train)
        train_set, val_set, test_set = (task.prepare(ds) for ds in (splits.train, splits.val, splits.test))
        model = task.build_model(cfg, splits).to(device)
        loader, sampler = train_loader(train_set, cfg.data.batch_size, seed=cfg.seed, rank=info.rank,
                                       world_size=info.world_size, num_workers=cfg.data.num_workers)
        val_loader = eval_loader(val_set, cfg.data.eval_batch_size, rank=info.rank, world_size=info.world_size)
        steps_per_epoch = len(loader) // loop.accum_steps
        if steps_per_epoch == 0:
            raise DanluError(f"loop.accum_steps={loop.accum_steps} exceeds the {len(loader)} batches per epoch")
        total_steps = loop.epochs * steps_per_epoch
        total_steps = min(total_steps, loop.max_steps) if loop.max_steps else total_steps
        optimizers = task.build_optimizers(cfg, model, total_steps)

        if info.is_main:
            run_dir.mkdir(parents=True, exist_ok=True)
            write_text(run_dir / "config.yaml", to_yaml(cfg))
            if saved is not None:
                RunLog.truncate_after(run_dir / "log.jsonl", saved["loop"]["step"])
        log = RunLog(run_dir / "log.jsonl", enabled=info.is_main, progress=cfg.log.progress,
                     total_steps=total_steps)
        engine = self.engine = Engine(
            cfg, task, model, optimizers, LoaderBatches(loader, sampler, cfg.data.batch_size), device=device,
            total_steps=total_steps, epochs=loop.epochs, info=info, val_loader=val_loader, checkpoints=ckpts,
            log=log, callbacks=self.callbacks, seed=cfg.seed,
            samples_per_step=cfg.data.batch_size * loop.accum_steps * info.world_size)
        if saved is not None:
            engine.restore(saved)
            log.message(f"resumed from step {engine.state.step} (epoch {engine.state.epoch}, "
                        f"batch {engine.state.batch_in_epoch})")
            self._warn_config_changes(saved, log)
        self.state = engine.state
        engine.run()

        # -- final numbers: validation and test with the evaluated weights (EMA if on)
        final_model = engine.eval_model
        test_loader = eval_loader(test_set, cfg.data.eval_batch_size, rank=info.rank, world_size=info.world_size)
        state = engine.state
        metrics: dict[str, Any] = {**engine.evaluate(final_model, val_loader, "val_"),
                                   **engine.evaluate(final_model, test_loader, "test_"),
                                   "steps": state.step, "epochs": state.epoch, "bad_steps": state.bad_steps,
                                   "processes": info.world_size}
        if info.is_main:
            write_text(run_dir / "metrics.json", json.dumps(metrics, indent=2) + "\n")
        engine.emit("end")
        return TrainResult(metrics=metrics, run_dir=run_dir, model=final_model, state=state,
                           history=engine.history)

    # ------------------------------------------------------------------------------- helpers
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


def train(cfg: TrainConfig, *, resume: bool | str | pathlib.Path | None = None,
          callbacks: Sequence[Callback] = ()) -> TrainResult:
    """``Trainer(cfg, callbacks=callbacks).fit(resume)``."""
    return Trainer(cfg, callbacks=callbacks).fit(resume)


__all__ = ["CheckpointError", "LoopState", "TrainResult", "Trainer", "TrainingDiverged", "train"]
