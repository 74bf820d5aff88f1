"""Load a finished (or interrupted) ``danlu train`` run: its config, task, data splits and model.

    >>> from danlu.train.load_run import load_run
    >>> run = load_run("runs/danlu")                    # doctest: +SKIP
    >>> run.model.eval(); run.task.name, run.checkpoint  # doctest: +SKIP

The model is rebuilt from the run's ``config.yaml`` exactly as training built it (same seed, same
splits) and given the checkpoint's weights, the EMA weights when the run kept an EMA (those are
the weights its evaluation used). Verbs that use a trained model (``danlu predict``, ``danlu eval
corruption``) go through this one function.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from danlu.errors import DanluError


@dataclass
class LoadedRun:
    """A trained run, ready to use.

    Attributes:
        cfg: the run's :class:`~danlu.train.config.TrainConfig` (from ``config.yaml``).
        task: the run's task (its ``state_dict`` restored).
        model: the network with the checkpoint's weights, in eval mode, on ``device``.
        splits: the run's train/val/test splits, rebuilt deterministically from the config.
        checkpoint: the checkpoint file the weights came from.
        state: the whole checkpoint dict (metrics, loop state) for callers that want more.
    """

    cfg: Any
    task: Any
    model: nn.Module
    splits: Any
    checkpoint: pathlib.Path
    state: dict[str, Any]


def _pick_checkpoint(run_dir: pathlib.Path, which: str) -> pathlib.Path:
    from danlu.train.checkpoint import CheckpointManager

    folder = run_dir / "checkpoints"
    if which not in ("best", "last"):
        path = pathlib.Path(which).expanduser()
        if not path.is_file():
            raise DanluError(f"checkpoint {which!r} does not exist (expected best, last or a .pt file)")
        return path
    best = folder / "best.pt"
    latest = CheckpointManager(folder).latest() if folder.is_dir() else None
    path = best if which == "best" and best.is_file() else latest
    if path is None:
        raise DanluError(f"run folder {str(run_dir)!r} has no checkpoints (expected {str(folder)!r} with "
                         "best.pt or ckpt-*.pt; was the run started with `danlu train`?)")
    return path


def load_run(run_dir: str | os.PathLike, *, checkpoint: str = "best",
             device: str | torch.device = "cpu") -> LoadedRun:
    """The run in ``run_dir`` with the weights of ``checkpoint`` ("best", "last" or a file path).

    Raises DanluError naming the folder when it is not a danlu run (no ``config.yaml``) or has no
    checkpoint, and naming the keys when the checkpoint does not fit the configured model.
    """
    from danlu.train.checkpoint import load_checkpoint, load_module_state
    from danlu.train.config import load_config
    from danlu.train.tasks import TASKS

    folder = pathlib.Path(run_dir).expanduser()
    if not folder.is_dir():
        raise DanluError(f"run folder {str(run_dir)!r} does not exist")
    if not (folder / "config.yaml").is_file():
        raise DanluError(f"{str(run_dir)!r} is not a danlu run folder (no config.yaml)")
    cfg = load_config(folder / "config.yaml")
    path = _pick_checkpoint(folder, checkpoint)
    state = load_checkpoint(path, map_location="cpu")
    task = TASKS.get(cfg.task.name).from_config(cfg)
    if state.get("task"):
        task.load_state_dict(state["task"])
    torch.manual_seed(cfg.seed)
    splits = task.build_data(cfg)
    task.setup(splits.train)
    model = task.build_model(cfg, splits)
    weights = state["model"]
    if state.get("ema"):
        # AveragedModel's state: 'module.<name>' for each weight, plus 'n_averaged'
        ema = {k.removeprefix("module."): v for k, v in state["ema"].items() if k.startswith("module.")}
        weights = ema or weights
    load_module_state(model, weights, what=f"model in {path.name}")
    model.to(torch.device(device)).eval()
    task.to(torch.device(device))
    return LoadedRun(cfg=cfg, task=task, model=model, splits=splits, checkpoint=path, state=state)
