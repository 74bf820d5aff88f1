"""One training engine for every kind of model: checkpoints, exact resume, mixed precision and DDP.

    >>> from danlu.train import TrainConfig, load_config, train
    >>> cfg = load_config(None, ["data.name=digits", "loop.epochs=1", "out_dir=/tmp/danlu-run"])
    >>> result = train(cfg)              # doctest: +SKIP
    >>> result = fit("classification", model, data, steps=100, seed=0)   # doctest: +SKIP

Modules: ``engine`` (the loop every task runs through), ``tasks`` (what differs per model:
classification, gan; the TASKS registry), ``trainer`` (config + run folder -> engine: ``danlu
train``), ``in_memory`` (``fit``: objects in memory -> engine: the lab cards), ``config`` (typed dataclasses,
YAML, overrides; ``schema``: typed fields with docs), ``checkpoint`` (atomic save, safe load, RNG
state), ``data`` (resumable, rank-sharded loaders), ``distributed`` (torchrun / DDP plumbing),
``guard`` (the NaN/inf check), ``metrics`` (METRICS registry), ``log`` (progress, JSONL, summary),
``run_dir`` (what a run folder may hold, what --resume means).
"""

from __future__ import annotations

from danlu.train.checkpoint import CheckpointError, CheckpointManager, load_checkpoint, save_checkpoint
from danlu.train.config import (
           ConfigError,
           TrainConfig,
           apply_overrides,
           from_dict,
           load_config,
           to_dict,
           to_yaml,
)
from danlu.train.engine import Engine, LoopState, StepInfo, TrainingDiverged
from danlu.train.in_memory import FitResult, fit
from danlu.train.metrics import METRICS
from danlu.train.tasks import TASKS, Task, create_task, list_tasks
from danlu.train.trainer import Trainer, TrainResult, train

__all__ = ["METRICS", "TASKS", "CheckpointError", "CheckpointManager", "ConfigError", "Engine", "FitResult",
           "LoopState", "StepInfo", "Task", "TrainConfig", "TrainResult", "Trainer", "TrainingDiverged",
           "apply_overrides", "create_task", "fit", "from_dict", "list_tasks", "load_checkpoint", "load_config",
           "save_checkpoint", "to_dict", "to_yaml", "train"]
