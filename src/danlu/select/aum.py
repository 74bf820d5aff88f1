"""AUM: the area under the margin curve (Pleiss, Zhang, Elenberg & Weinberger 2020).

"Identifying Mislabeled Data using the Area Under the Margin Ranking", NeurIPS 2020
(arXiv:2001.10528), eqs. 1-2: at each presentation ``t`` of example ``(x, y)`` the margin is
``M_t = z_y - max_{j != y} z_j`` (logits of the forward pass of that training step), and
``AUM = (1/T) sum_t M_t``. A low (negative) AUM marks a hard or mislabeled example, so its hard end
is the LOW one (``SCORES["aum"].harder == "low"``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.select._train import (
    ModelFactory,
    OptimizerFactory,
    score_over_seeds,
)
from danlu.select.spec import register_score


def margins(logits: Tensor, y: Tensor) -> Tensor:
    """``z_y - max_{j != y} z_j``: logits (B, C), y (B,) -> (B,)."""
    assigned = logits.gather(1, y[:, None]).squeeze(1)  # (B,)
    others = logits.scatter(1, y[:, None], -math.inf)  # (B, C) with the label's logit masked
    return assigned - others.max(1).values


class MarginTracker:
    """Sums each example's margin over its presentations (a trainer callback, like
    :class:`danlu.select.ForgettingTracker`); :meth:`aum` is the mean."""

    def __init__(self, n: int) -> None:
        self.total = torch.zeros(n, dtype=torch.float64)
        self.seen = torch.zeros(n, dtype=torch.long)

    def update(self, index: Tensor, margin: Tensor) -> None:
        """One presentation of ``index`` (B,) with margins (B,); a repeated index counts each time."""
        index = index.cpu().long()
        self.total.index_add_(0, index, margin.detach().cpu().double())
        self.seen.index_add_(0, index, torch.ones_like(index))

    def __call__(self, event: str, engine: Any) -> None:
        if event != "step":
            return
        outputs, (_, y, *_) = engine.last.outputs, engine.last.batch
        if not (isinstance(outputs, tuple) and len(outputs) == 2):
            raise DanluError("MarginTracker needs step outputs (logits, index): train with "
                             "danlu.select.IndexedClassification")
        logits, index = outputs
        self.update(index, margins(logits.detach().float(), y))

    def aum(self) -> Tensor:
        """(N,) float64 mean margin; NaN for never-presented examples."""
        return torch.where(self.seen > 0, self.total / self.seen.clamp(min=1), torch.full_like(self.total, math.nan))


@register_score("aum", harder="low", epochs=5, paper="Pleiss et al. 2020, arXiv:2001.10528")
def aum(model_factory: ModelFactory, dataset: TensorDataset, *, epochs: int = 5, seeds: int | Sequence[int] = 3,
        batch_size: int = 128, device: torch.device | str | None = None, optimizer: OptimizerFactory | None = None,
        progress: bool = True) -> Tensor:
    """Area under the margin of every example, averaged over seeds: (N,) float32, LOWER = harder.

    Arguments as :func:`danlu.select.el2n`; ``epochs`` >= 1 (margins are recorded during training).
    """
    return score_over_seeds("aum", "AUM", model_factory, dataset, score=lambda _, cb, __: cb.aum(),
                            tracker=MarginTracker, epochs=epochs, seeds=seeds, batch_size=batch_size, device=device,
                            optimizer=optimizer, progress=progress,
                            needs_training="margins are recorded during training")
