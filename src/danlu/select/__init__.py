"""Data selection: which training examples matter, and training on the ones that do.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from danlu.select import el2n, subset
    >>> x = torch.randn(200, 2); data = TensorDataset(x, (x[:, 0] > 0).long())
    >>> scores = el2n(lambda: torch.nn.Linear(2, 2), data, epochs=1, seeds=2, batch_size=50, progress=False)
    >>> subset(scores, keep=0.25, mode="hard").shape
    torch.Size([50])

Scores, each ``fn(model_factory, dataset, *, epochs, seeds, batch_size, device) -> Tensor (N,)``
and registered in :data:`SCORES`: :func:`el2n` and :func:`grand` (Paul et al. 2021,
arXiv:2107.07075), :func:`forgetting` (Toneva et al. 2019, arXiv:1812.05159; a trainer callback,
:class:`ForgettingTracker`) and :func:`aum` (Pleiss et al. 2020, arXiv:2001.10528; lower = harder).
:func:`subset` turns scores into kept indices; :func:`apply_subset` is ``danlu train``'s
``data.subset`` option; :mod:`danlu.select.svm` compares top-scored points with SVM support vectors.
"""

from __future__ import annotations

from danlu.select._train import IndexedClassification, train_scorer
from danlu.select.aum import MarginTracker, aum, margins
from danlu.select.el2n import el2n, el2n_from_probs
from danlu.select.forgetting import ForgettingTracker, forgetting
from danlu.select.grand import grad_norms, grad_norms_loop, grand
from danlu.select.options import apply_subset
from danlu.select.spec import SCORES, ScoreSpec
from danlu.select.subset import MODES, subset


def _load_scores() -> None:
    """The score modules register themselves on import (done above); nothing more to load."""


def list_scores() -> list[str]:
    """Registered score names."""
    return SCORES.names()


__all__ = ["MODES", "SCORES", "ForgettingTracker", "IndexedClassification", "MarginTracker", "ScoreSpec",
           "apply_subset", "aum", "el2n", "el2n_from_probs", "forgetting", "grad_norms", "grad_norms_loop", "grand",
           "list_scores", "margins", "subset", "train_scorer"]
