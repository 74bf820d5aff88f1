"""``data.subset``: train ``danlu train`` on a scored subset of the training split.

    data:
      subset: {score: el2n, keep: 0.5, mode: hard}      # optional: epochs, seeds, batch_size

The scorer is the run's own model (``model`` section, built by ``danlu.train.build.build_model``)
with the run's optimizer and schedule (``optim``, ``schedule``), trained through
:func:`danlu.train.fit` on the training split for ``epochs`` epochs (default: the score's, see
``SCORES``) with seeds ``seed .. seed + seeds - 1`` (default 3). ``mode: random`` trains no scorer.
The global RNG state is restored afterwards, so the trained model starts from the same weights as
a run without ``data.subset``. Validation and test splits are never changed.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.select._train import check_dataset
from danlu.select.spec import SCORES
from danlu.select.subset import MODES, subset

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig

KEYS = ("score", "keep", "mode", "epochs", "seeds", "batch_size")


def _check(options: Any) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise DanluError(f"data.subset must be a mapping such as {{score: el2n, keep: 0.5, mode: hard}}, "
                         f"got {type(options).__name__}")
    unknown = sorted(set(options) - set(KEYS))
    if unknown:
        raise DanluError(f"data.subset: unknown key(s) {', '.join(unknown)}; valid: {', '.join(KEYS)}")
    if "keep" not in options:
        raise DanluError("data.subset needs keep: the fraction of the training split to keep, in (0, 1]")
    opts = {"mode": "hard", **options}
    MODES.get(opts["mode"])  # unknown mode: one line listing the valid ones
    if opts["mode"] != "random":
        if "score" not in opts:
            raise DanluError(f"data.subset with mode {opts['mode']!r} needs score: one of {', '.join(SCORES.names())}")
        SCORES.get(opts["score"])
    for key in ("epochs", "seeds", "batch_size"):
        v = opts.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < (0 if key == "epochs" else 1)):
            raise DanluError(f"data.subset.{key} must be a {'non-negative' if key == 'epochs' else 'positive'} "
                             f"int, got {v!r}")
    return opts


def score_training_split(splits: Splits, options: dict[str, Any], cfg: TrainConfig) -> torch.Tensor:
    """The (N,) hardness (higher = harder) of ``splits.train`` under ``options`` (a checked ``data.subset``)."""
    from danlu.runtime import resolve_device
    from danlu.train.build import build_model, build_optimization

    spec = SCORES.get(options["score"])
    n_seeds = options.get("seeds", 3)
    scores = spec.fn(lambda: build_model(cfg, splits), splits.train,
                     epochs=options.get("epochs", spec.epochs), seeds=list(range(cfg.seed, cfg.seed + n_seeds)),
                     batch_size=options.get("batch_size", cfg.data.batch_size), device=resolve_device(cfg.device),
                     optimizer=lambda m, steps: build_optimization(cfg, m, max(steps, 1)),
                     progress=cfg.log.progress)
    return spec.hardness(scores)


def apply_subset(splits: Splits, options: dict[str, Any], cfg: TrainConfig) -> Splits:
    """``splits`` with ``train`` cut to the examples ``options`` keeps (see the module docstring).

    ``splits.info["subset"]`` records the options and the kept indices (into the original training split).
    """
    opts = _check(options)
    check_dataset(splits.train, "data.subset: the training split")
    n = len(splits.train)
    if opts["mode"] == "random":
        hardness = torch.zeros(n)
    else:
        from danlu.runtime import resolve_device

        dev = resolve_device(cfg.device)
        cuda = [dev.index or 0] if dev.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):
            hardness = score_training_split(splits, opts, cfg)
    idx = subset(hardness, opts["keep"], opts["mode"], seed=cfg.seed)
    train = TensorDataset(*(t[idx] for t in splits.train.tensors))
    info = {**splits.info, "subset": {**opts, "kept": len(idx), "of": n, "indices": idx.tolist()}}
    return dataclasses.replace(splits, train=train, info=info)
