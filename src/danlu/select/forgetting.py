"""Forgetting events: how often training un-learns an example (Toneva et al. 2019).

"An Empirical Study of Example Forgetting during Deep Neural Network Learning", ICLR 2019
(arXiv:1812.05159), Algorithm 1: each time example ``i`` is in a mini-batch, record whether the
network (in the forward pass of that step, before the update) classifies it correctly; a
*forgetting event* is a presentation where it is wrong after having been right at its previous
presentation. The paper counts examples never classified correctly as forgotten infinitely often,
sorting them with the most forgettable; here such an example scores its number of presentations
``T``, more than any learned example can reach (at most ``T // 2`` events), so it still ranks
above all of them while averages over seeds stay finite. Unforgettable examples (0) are the easy ones.

:class:`ForgettingTracker` is a trainer callback (``fn(event, engine)``); it reads
``engine.last.outputs == (logits, index)`` as :class:`danlu.select._train.IndexedClassification` gives.
"""

from __future__ import annotations

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


class ForgettingTracker:
    """Counts forgetting events per example over a training run.

    Args:
        n: number of training examples.

    ``update(index (B,), correct (B,) bool)`` records one presentation of each indexed example;
    calling the tracker as a callback does that from ``engine.last`` after every step.
    """

    def __init__(self, n: int) -> None:
        self.prev = torch.zeros(n, dtype=torch.bool)      # correct at the previous presentation
        self.learned = torch.zeros(n, dtype=torch.bool)   # correct at some presentation
        self.seen = torch.zeros(n, dtype=torch.long)      # presentations
        self.events = torch.zeros(n, dtype=torch.long)    # forgetting events

    def update(self, index: Tensor, correct: Tensor) -> None:
        """One presentation of ``index`` (B,) with ``correct`` (B,); an index repeated within one call
        (a padded batch) counts once, with its last value."""
        index, correct = index.cpu().long(), correct.cpu().bool()
        self.events[index] += (self.prev[index] & ~correct).long()
        self.prev[index] = correct
        self.learned[index] |= correct
        self.seen[index] += 1

    def __call__(self, event: str, engine: Any) -> None:
        if event != "step":
            return
        outputs, (_, y, *_) = engine.last.outputs, engine.last.batch
        if not (isinstance(outputs, tuple) and len(outputs) == 2):
            raise DanluError("ForgettingTracker needs step outputs (logits, index): train with "
                             "danlu.select.IndexedClassification")
        logits, index = outputs
        self.update(index, logits.detach().argmax(1) == y)

    def counts(self) -> Tensor:
        """(N,) float64 forgetting events; never-learned examples score their presentations (see the
        module docstring); never-presented ones NaN."""
        out = torch.where(self.learned, self.events, self.seen).double()
        out[self.seen == 0] = float("nan")
        return out


@register_score("forgetting", harder="high", epochs=5, paper="Toneva et al. 2019, arXiv:1812.05159")
def forgetting(model_factory: ModelFactory, dataset: TensorDataset, *, epochs: int = 5,
               seeds: int | Sequence[int] = 3, batch_size: int = 128, device: torch.device | str | None = None,
               optimizer: OptimizerFactory | None = None, progress: bool = True) -> Tensor:
    """Forgetting events per example over ``epochs`` epochs of training, averaged over seeds: (N,) float32.

    Higher = harder; a seed that never learned an example counts its presentations. Arguments as
    :func:`danlu.select.el2n`; ``epochs`` must be at least 1 (events happen during training).
    """
    return score_over_seeds("forgetting", "forgetting events", model_factory, dataset,
                            score=lambda _, cb, __: cb.counts(), tracker=ForgettingTracker, epochs=epochs,
                            seeds=seeds, batch_size=batch_size, device=device, optimizer=optimizer,
                            progress=progress, needs_training="events are counted during training")
