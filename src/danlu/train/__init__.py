"""Config-driven supervised training: checkpoints, exact resume, mixed precision and DDP.

    >>> from danlu.train import TrainConfig, load_config, train
    >>> cfg = load_config(None, ["data.name=digits", "loop.epochs=1", "out_dir=/tmp/danlu-run"])
    >>> result = train(cfg)              # doctest: +SKIP

Modules: ``config`` (typed dataclasses, YAML, overrides), ``trainer`` (the loop), ``checkpoint``
(atomic save, safe load, RNG state), ``data`` (resumable, rank-sharded loaders), ``distributed``
(torchrun / DDP plumbing), ``metrics`` (METRICS registry), ``log`` (progress, JSONL, summary).
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
from danlu.train.metrics import METRICS
from danlu.train.trainer import LoopState, Trainer, TrainingDiverged, TrainResult, train

__all__ = ["METRICS", "CheckpointError", "CheckpointManager", "ConfigError", "LoopState", "TrainConfig",
           "TrainResult", "Trainer", "TrainingDiverged", "apply_overrides", "from_dict", "load_config",
           "load_checkpoint", "save_checkpoint", "to_dict", "to_yaml", "train"]
