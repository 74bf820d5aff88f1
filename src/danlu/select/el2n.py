"""EL2N: the L2 norm of the error vector early in training (Paul, Ganguli & Dziugaite 2021).

"Deep Learning on a Data Diet: Finding Important Examples Early in Training", NeurIPS 2021
(arXiv:2107.07075), eq. 2: ``EL2N(x, y) = E_w || softmax(f_w(x)) - onehot(y) ||_2``, the
expectation over independently initialized networks trained for a few epochs. A large EL2N is an
example the network still gets wrong or is unsure of: a hard (or mislabeled) example.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from danlu.select._train import (
    ModelFactory,
    OptimizerFactory,
    check_dataset,
    predict,
    score_over_seeds,
)
from danlu.select.spec import register_score


def el2n_from_probs(probs: Tensor, y: Tensor) -> Tensor:
    """Per-example error norm ``||p - onehot(y)||_2``: probs (N, C) rows summing to 1, y (N,) -> (N,)."""
    onehot = torch.nn.functional.one_hot(y, probs.shape[1]).to(probs.dtype)  # (N, C)
    return (probs - onehot).norm(dim=1)


@register_score("el2n", harder="high", epochs=2, paper="Paul et al. 2021, arXiv:2107.07075")
def el2n(model_factory: ModelFactory, dataset: TensorDataset, *, epochs: int = 2, seeds: int | Sequence[int] = 3,
         batch_size: int = 128, device: torch.device | str | None = None, optimizer: OptimizerFactory | None = None,
         progress: bool = True) -> Tensor:
    """EL2N score of every example, averaged over seeds: (N,) float32, higher = harder.

    Args:
        model_factory: builds a fresh network (called right after ``torch.manual_seed(seed)``).
        dataset: ``TensorDataset(x (N, ...), y (N,))`` with integer class labels.
        epochs: training epochs before scoring (the paper scores at about 10% of training).
        seeds: how many seeds (``0..k-1``) or which ones; one network per seed.
        batch_size: training and inference batch size.
        device: where to train (default CPU).
        optimizer: ``fn(model, total_steps)`` -> optimizer (or ``(optimizer, schedule)``); default Adam 1e-3.
        progress: show a progress bar.
    """
    x, y = check_dataset(dataset)

    def score(model: torch.nn.Module, _: object, dev: torch.device) -> Tensor:
        return el2n_from_probs(predict(model, x, batch_size, dev).double().softmax(1), y)  # probs (N, C) -> (N,)

    return score_over_seeds("el2n", "EL2N", model_factory, dataset, score=score, epochs=epochs, seeds=seeds,
                            batch_size=batch_size, device=device, optimizer=optimizer, progress=progress)
