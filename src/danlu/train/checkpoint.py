"""Checkpoints that never lose work and never execute code.

- Writes are atomic (:mod:`danlu.files`): the state goes to a temporary file in the same folder,
  which is flushed, fsync'ed and then renamed over the target (``os.replace``), and the folder is
  fsync'ed. A crash at any point leaves either the old file or the new one, never half of one.
- ``CheckpointManager`` keeps the last ``k`` step checkpoints plus ``best.pt``.
- Loading uses ``torch.load(..., weights_only=True)``: only tensors and plain containers are
  unpickled, so a checkpoint cannot run code. A truncated file, a file that is not a danlu
  checkpoint, or one holding arbitrary objects raises :class:`CheckpointError` naming the file.
- ``capture_rng`` / ``restore_rng`` carry the Python, NumPy, torch and CUDA generator states
  as tensors and plain values, so a resumed run draws the same random numbers.
"""

from __future__ import annotations

import pathlib
import pickle
import random
import re
from typing import Any

import numpy as np
import torch

from danlu.errors import DanluError
from danlu.files import atomic_open

FORMAT = "danlu-checkpoint"
VERSION = 1
_STEP_FILE = re.compile(r"^ckpt-(\d+)\.pt$")


class CheckpointError(DanluError):
    """A checkpoint that cannot be used: missing, truncated, not danlu's, or unsafe."""


def save_checkpoint(state: dict[str, Any], path: str | pathlib.Path) -> pathlib.Path:
    """Atomically write ``state`` (plus the format tag) to ``path`` and return the path."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "wb") as f:
        torch.save({"format": FORMAT, "version": VERSION, **state}, f)
    return path


def load_checkpoint(path: str | pathlib.Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and check a danlu checkpoint with ``weights_only=True``.

    Raises:
        CheckpointError: the file is missing, truncated/corrupt, not a danlu checkpoint, or holds
            objects other than tensors and plain containers.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "weights only" in str(exc).lower() or "weights_only" in str(exc).lower():
            raise CheckpointError(f"checkpoint {str(path)!r} holds objects other than tensors and plain "
                                  f"containers; danlu loads checkpoints with weights_only=True and will not "
                                  f"execute code from them ({first})") from None
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt ({first})") from None
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types for damaged files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} is not a danlu checkpoint (expected a dict with "
                              f"format={FORMAT!r}, e.g. one written by `danlu train`)")
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r} has format version {state.get('version')!r}; "
                              f"this danlu reads version {VERSION}")
    return state


def load_module_state(module: torch.nn.Module, state: dict[str, Any], *, what: str = "model") -> None:
    """``module.load_state_dict(state)``; weights that do not fit raise one line naming them.

    A checkpoint written with another model config (another model, depth or width) has missing,
    unexpected or differently shaped weights; torch's RuntimeError lists every key over many
    lines. Here it is a :class:`CheckpointError` with the first few of each kind.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in own.items()
              if k in state and isinstance(state[k], torch.Tensor) and state[k].shape != v.shape]

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")

    parts = [f"{label}: {few(keys)}" for label, keys in
             (("missing", missing), ("unexpected", unexpected), ("shape (checkpoint vs now)", shapes)) if keys]
    if parts:
        raise CheckpointError(f"the checkpoint's {what} weights do not fit this config's {what} ({'; '.join(parts)}); "
                              f"resume with the config it was trained with, or start a new run in another --out")
    module.load_state_dict(state)


_DROP = object()
_SCALARS = (bool, int, float, str, bytes, type(None), torch.Tensor, torch.dtype, torch.device)


def plain_state(obj: Any) -> Any:
    """``obj`` (a ``state_dict``) without the entries ``weights_only`` loading would refuse.

    Some LR schedulers keep the callable that computes the LR in their state (LambdaLR stores
    a callable object's ``__dict__``). That part is rebuilt from the config anyway, so it is
    dropped here and the rest (step counts, base LRs) is saved. Load with ``merge_state``.
    """
    out = _plain(obj)
    return {} if out is _DROP else out


def _plain(obj: Any) -> Any:
    if isinstance(obj, _SCALARS):
        return obj
    if isinstance(obj, dict):
        kept = {k: _plain(v) for k, v in obj.items() if isinstance(k, (str, int))}
        return {k: v for k, v in kept.items() if v is not _DROP}
    if isinstance(obj, (list, tuple)):
        items = [_plain(v) for v in obj]
        return _DROP if any(v is _DROP for v in items) else type(obj)(items)
    return _DROP


def merge_state(current: dict[str, Any], saved: dict[str, Any]) -> dict[str, Any]:
    """A freshly built object's ``state_dict`` updated with the saved plain entries."""
    return {**current, **saved}


def capture_rng() -> dict[str, Any]:
    """The Python, NumPy, torch (CPU) and CUDA generator states, as checkpoint-safe values."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def restore_rng(state: dict[str, Any]) -> None:
    """Restore the generator states saved by :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class CheckpointManager:
    """Step checkpoints ``ckpt-<step>.pt`` (the last ``keep_last`` kept) and ``best.pt`` in ``folder``."""

    def __init__(self, folder: str | pathlib.Path, keep_last: int = 2) -> None:
        if keep_last < 1:
            raise DanluError(f"keep_last must be >= 1, got {keep_last}")
        self.folder = pathlib.Path(folder)
        self.keep_last = keep_last

    def step_checkpoints(self) -> list[pathlib.Path]:
        """Step checkpoints, oldest first (temporary files of interrupted writes are ignored)."""
        if not self.folder.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.folder.iterdir() if (m := _STEP_FILE.match(p.name))]
        return [p for _, p in sorted(found)]

    def save(self, state: dict[str, Any], step: int, *, best: bool = False) -> pathlib.Path:
        """Write ``ckpt-<step>.pt`` (and ``best.pt`` when ``best``), then drop the oldest beyond keep_last."""
        path = save_checkpoint(state, self.folder / f"ckpt-{step:08d}.pt")
        if best:
            save_checkpoint(state, self.folder / "best.pt")
        for old in self.step_checkpoints()[:-self.keep_last]:
            old.unlink(missing_ok=True)
        return path

    def latest(self) -> pathlib.Path | None:
        """The newest step checkpoint, or None."""
        found = self.step_checkpoints()
        return found[-1] if found else None

    def load_latest(self, map_location: str | torch.device = "cpu") -> tuple[pathlib.Path, dict[str, Any]]:
        """Load the newest step checkpoint.

        If it is unusable, the error names it and, when an older checkpoint loads, points to that
        one (``--resume PATH``); nothing is deleted or overwritten.
        """
        found = self.step_checkpoints()
        if not found:
            raise CheckpointError(f"no checkpoint to resume from in {str(self.folder)!r}")
        try:
            return found[-1], load_checkpoint(found[-1], map_location)
        except CheckpointError as exc:
            for older in reversed(found[:-1]):
                try:
                    load_checkpoint(older)
                except CheckpointError:
                    continue
                raise CheckpointError(f"{exc}; the previous checkpoint {str(older)!r} loads fine: "
                                      f"resume from it with --resume {older}") from None
            raise
