"""The corruption benchmark: a model's accuracy on every corruption x severity, and their mean.

Hendrycks & Dietterich, arXiv:1903.12261, report the mean corruption error over 15 corruptions x
5 severities; MNIST-C (Mu & Gilmer, arXiv:1906.02337) reports the mean accuracy. Here the mean
corruption accuracy (mCA) is the plain mean over the table's cells (no AlexNet normalisation: there
is no reference model for these digits).

    >>> import torch
    >>> from danlu.robust.corruptions.benchmark import corruption_table
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10)).eval()
    >>> t = corruption_table(model, torch.rand(8, 1, 28, 28), torch.zeros(8, dtype=torch.long),
    ...                      names=["brightness"], progress=False)
    >>> len(t.accuracy["brightness"])
    5
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.robust.corruptions import CORRUPTIONS, SEVERITIES, corrupt, list_corruptions


@dataclass
class CorruptionTable:
    """Accuracies (in [0, 1]) of one model on a test set under each corruption and severity.

    Attributes:
        clean: accuracy on the uncorrupted images.
        accuracy: corruption name -> [accuracy at severity 1..5].
        n: number of test images.
        seed: the corruption seed.
    """

    clean: float
    accuracy: dict[str, list[float]]
    n: int
    seed: int = 0
    categories: dict[str, str] = field(default_factory=dict)

    @property
    def mean(self) -> float:
        """Mean corruption accuracy over every (corruption, severity) cell."""
        cells = [a for row in self.accuracy.values() for a in row]
        return sum(cells) / len(cells)

    def per_corruption(self) -> dict[str, float]:
        """Corruption -> accuracy averaged over severities."""
        return {k: sum(v) / len(v) for k, v in self.accuracy.items()}

    def per_severity(self) -> list[float]:
        """Accuracy at each severity averaged over corruptions."""
        rows = list(self.accuracy.values())
        return [sum(r[i] for r in rows) / len(rows) for i in range(len(rows[0]))]

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "seed": self.seed, "clean_accuracy": self.clean,
                "mean_corruption_accuracy": self.mean, "per_severity": self.per_severity(),
                "per_corruption": {k: {"category": self.categories.get(k, ""), "mean": m,
                                       "severity": dict(zip(map(str, SEVERITIES), self.accuracy[k], strict=True))}
                                   for k, m in self.per_corruption().items()}}

    def format(self) -> str:
        """A plain-text table: one row per corruption, accuracy (%) per severity and the mean."""
        head = f"{'corruption':16s} {'category':10s} " + " ".join(f"{'s' + str(s):>6s}" for s in SEVERITIES) + "   mean"
        lines = [f"clean accuracy {100 * self.clean:.2f}%   mean corruption accuracy {100 * self.mean:.2f}%   "
                 f"({self.n} images, seed {self.seed})", "", head, "-" * len(head)]
        for k, row in self.accuracy.items():
            lines.append(f"{k:16s} {self.categories.get(k, ''):10s} " + " ".join(f"{100 * a:6.2f}" for a in row)
                         + f" {100 * sum(row) / len(row):6.2f}")
        lines.append(f"{'mean':16s} {'':10s} " + " ".join(f"{100 * a:6.2f}" for a in self.per_severity())
                     + f" {100 * self.mean:6.2f}")
        return "\n".join(lines)

    def heatmap(self, ax: Any, title: str = "") -> Any:
        """Draw the table as a corruption x severity heatmap on a matplotlib axis; returns the image."""
        names = list(self.accuracy)
        data = [[100 * a for a in self.accuracy[k]] for k in names]
        im = ax.imshow(data, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xticks(range(len(SEVERITIES)), [str(s) for s in SEVERITIES])
        ax.set_xlabel("severity")
        for i, row in enumerate(data):
            for j, v in enumerate(row):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=6, color="w" if v < 60 else "k")
        ax.set_title(title or f"accuracy (%): clean {100 * self.clean:.1f}, mean corrupted {100 * self.mean:.1f}")
        return im


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_size: int) -> float:
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += int((model(x[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
    return correct / len(x)


def corruption_table(model: nn.Module, x: Tensor, y: Tensor, *, names: Sequence[str] | None = None,
                     seed: int = 0, batch_size: int = 1024, progress: bool = True) -> CorruptionTable:
    """Accuracy of ``model`` (run in eval mode, restored after) on x corrupted by each name x severity.

    Args:
        model: maps (N, 1, H, W) images in [0, 1] to (N, C) logits.
        x: (N, 1, H, W) test images in [0, 1]; y: (N,) labels.
        names: corruptions to run (default: all of :data:`CORRUPTIONS`, in category order).
        seed: the corruptions' seed (the same seed gives the same corrupted set).
        batch_size: evaluation batch size.
        progress: show a rich progress bar over the table's cells.
    """
    names = list(names) if names is not None else list_corruptions()
    for n in names:
        CORRUPTIONS.get(n)  # unknown names list the valid ones
    if len(x) != len(y) or len(x) == 0:
        raise DanluError(f"corruption_table: need as many labels as images (> 0), got {len(x)} and {len(y)}")
    was_training = model.training
    model.eval()
    try:
        clean = _accuracy(model, x, y, batch_size)
        acc: dict[str, list[float]] = {}
        cells = [(n, s) for n in names for s in SEVERITIES]
        with _progress(progress) as bar:
            task = bar.add_task("corruptions", total=len(cells)) if bar is not None else None
            for n, s in cells:
                acc.setdefault(n, []).append(_accuracy(model, corrupt(x, n, s, seed=seed), y, batch_size))
                if bar is not None:
                    bar.update(task, advance=1, description=f"{n} s{s}")
    finally:
        model.train(was_training)
    return CorruptionTable(clean=clean, accuracy=acc, n=len(x), seed=seed,
                           categories={n: CORRUPTIONS.get(n).category for n in names})


class _NoBar:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _progress(show: bool) -> Any:
    """A transient rich progress bar on stderr (stdout stays clean for --json), or a no-op."""
    if not show:
        return _NoBar()
    from rich.console import Console
    from rich.progress import Progress

    return Progress(transient=True, console=Console(stderr=True))


__all__ = ["CorruptionTable", "corruption_table"]
