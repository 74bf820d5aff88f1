"""Shared pieces of the training-tricks cards: data, a short training loop, evaluation, calibration.

One loop for every card, readable top to bottom: sample a batch (order fixed by ``seed``), forward,
loss, backward, optimizer step, schedule step, record the loss and the lr. Cards differ only in
what they pass in (model, optimizer, schedule, loss) and what they measure.
"""

from __future__ import annotations

import functools
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

LossFn = Callable[[Tensor, Tensor], Tensor]


@functools.lru_cache(maxsize=8)
def digits(seed: int, flatten: bool = True):
    """sklearn digits splits (train ~1258 / val / test ~270), flattened to (N, 64) or images (N, 1, 8, 8)."""
    from danlu.data import load_dataset

    return load_dataset("digits", seed=seed, flatten=flatten)


def subset(ds: TensorDataset, n: int, seed: int) -> TensorDataset:
    """The first ``n`` items of a seeded permutation of ``ds``."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n]
    return TensorDataset(*(t[idx] for t in ds.tensors))


@dataclass
class Run:
    """What :func:`train` records: per-step loss and lr, and ``evals`` rows from ``eval_fn``."""

    losses: list[float] = field(default_factory=list)
    lrs: list[float] = field(default_factory=list)
    evals: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[dict[str, Tensor]] = field(default_factory=list)


def train(model: nn.Module, data: TensorDataset, *, steps: int, batch_size: int, optimizer: torch.optim.Optimizer,
          seed: int, schedule: Any = None, loss_fn: LossFn = F.cross_entropy,
          eval_fn: Callable[[nn.Module], dict[str, float]] | None = None, eval_every: int = 0,
          snapshot_at: Sequence[int] = (), device: torch.device | None = None) -> Run:
    """Train ``model`` for ``steps`` optimizer steps on mini-batches of ``data``.

    Batches walk through seeded permutations of the data (epoch after epoch), so two runs with the
    same ``seed`` see the same batches in the same order. ``eval_fn(model)`` runs (in eval mode) at
    step 0, every ``eval_every`` steps and at the end; ``snapshot_at`` lists 0-based steps after
    which a copy of the weights is kept (snapshot ensembles).

    The steps run on danlu's training engine (:func:`danlu.train.fit`, the classification task with
    ``loss_fn``), with the NaN guard off so a diverging run is recorded as it happened.
    """
    from danlu.train import fit
    from danlu.train.config import LoopConfig
    from danlu.train.tasks.classification import Classification

    run, snaps = Run(), set(snapshot_at)

    def evaluate(step: int) -> None:
        if eval_fn is not None:
            model.eval()
            with torch.no_grad():
                run.evals.append({"step": step, **eval_fn(model)})
            model.train()

    def record(event: str, engine: Any) -> None:
        if event != "step":
            return
        step = engine.last.step - 1  # 0-based
        run.lrs.append(engine.last.lr)  # the lr this step used
        run.losses.append(engine.last.loss.item())
        if step in snaps:
            run.snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            evaluate(step + 1)

    model.train()
    evaluate(0)
    fit(Classification(loss_fn=loss_fn), model, data, steps=steps, seed=seed, device=device or torch.device("cpu"),
        batch_size=batch_size, optimizer=optimizer, schedule=schedule, loop=LoopConfig(nan_guard=False),
        callbacks=[record])
    evaluate(steps)
    model.eval()
    return run


@torch.no_grad()
def logits_of(model: nn.Module, ds: TensorDataset, device: torch.device | None = None) -> Tensor:
    """Model outputs on all of ``ds`` in eval mode: (N, C)."""
    model.eval()
    x = ds.tensors[0].to(device or torch.device("cpu"))
    return model(x).float().cpu()


def accuracy(logits: Tensor, y: Tensor) -> float:
    return (logits.argmax(1) == y).float().mean().item()


def nll(logits: Tensor, y: Tensor) -> float:
    return F.cross_entropy(logits, y).item()


def metrics(model: nn.Module, ds: TensorDataset, prefix: str = "") -> dict[str, float]:
    """``{prefix}acc`` and ``{prefix}loss`` (cross entropy) of ``model`` on ``ds``."""
    out = logits_of(model, ds)
    y = ds.tensors[1]
    return {f"{prefix}acc": accuracy(out, y), f"{prefix}loss": nll(out, y)}


def calibration(probs: Tensor, y: Tensor, bins: int = 15) -> tuple[float, list[dict[str, float]]]:
    """Expected calibration error (Guo et al. 2017, arXiv:1706.04599) and reliability-diagram bins.

    Top-label confidence is binned into ``bins`` equal-width bins over [0, 1] (right-closed, as
    torchmetrics' MulticlassCalibrationError with ``norm="l1"``); ECE = sum over bins of
    ``(count / N) * |accuracy - mean confidence|``. probs (N, C), y (N,).
    """
    conf, pred = probs.max(1)
    correct = (pred == y).float()
    edges = torch.linspace(0, 1, bins + 1, dtype=conf.dtype)
    which = torch.bucketize(conf, edges[1:-1], right=False)  # bin i holds (edge_i, edge_{i+1}]
    ece, rows = 0.0, []
    for i in range(bins):
        m = which == i
        cnt = int(m.sum())
        if cnt:
            acc, c = correct[m].mean().item(), conf[m].mean().item()
            ece += cnt / len(y) * abs(acc - c)
            rows.append({"lo": edges[i].item(), "hi": edges[i + 1].item(), "count": cnt, "acc": acc, "conf": c})
    return ece, rows


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs))


def pr_curve(score: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Recall and precision at every distinct score threshold (descending); score, y (N,), y in {0, 1}."""
    order = torch.argsort(score, descending=True, stable=True)
    s, t = score[order], y[order].float()
    last = torch.cat([s[1:] != s[:-1], torch.tensor([True])])  # last index of each run of tied scores
    tp = torch.cumsum(t, 0)[last]
    k = torch.nonzero(last).squeeze(1).float() + 1
    return tp / t.sum().clamp(min=1), tp / k


def average_precision(score: Tensor, y: Tensor) -> float:
    """Step-wise AP = sum_k (R_k - R_{k-1}) P_k over thresholds, as sklearn's average_precision_score."""
    recall, precision = pr_curve(score, y)
    prev = torch.cat([torch.zeros(1), recall[:-1]])
    return float(((recall - prev) * precision).sum())


def paired_seed_panel(ax: Any, res: dict[str, list[dict[str, Any]]], key: str, label: str, *,
                      ylabel: str, title: str) -> None:
    """Draw two arms' per-seed values of ``key`` joined by grey lines (same seed) plus their mean.

    ``res`` maps the two arm names to per-seed result dicts (same seed order); ``label`` is the mean
    line's legend text (e.g. the paired effect with its interval).
    """
    names = list(res)
    n = len(res[names[0]])
    for j in range(n):
        ax.plot([0, 1], [res[a][j][key] for a in names], "o-", color="0.5", alpha=0.6, lw=1, ms=4)
    means = [sum(r[key] for r in res[a]) / n for a in names]
    ax.plot([0, 1], means, "D-", color="k", lw=2, ms=7, label=label)
    ax.set_xticks([0, 1], names)
    ax.set_xlim(-0.3, 1.3)
    ax.set(ylabel=ylabel, title=title)
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.25 * (hi - lo))  # headroom for the legend
    ax.legend(fontsize=7, loc="upper center")


def trailing_mean(xs: Sequence[float], k: int) -> list[float]:
    """Trailing moving average over ``k`` values (fewer at the start), for loss-curve figures."""
    return [sum(xs[max(0, i - k + 1):i + 1]) / min(i + 1, k) for i in range(len(xs))]

