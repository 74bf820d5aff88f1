"""Gaussian noise augmentation and the choice of its sigma on a validation split.

Rusak et al., "A Simple Way to Make Neural Networks Robust Against Diverse Image Corruptions"
(ECCV 2020, arXiv:2001.06057), section 3: training on ``x + N(0, sigma^2)`` with a well-chosen
sigma, mixed with clean images, is a strong baseline against common corruptions. The paper tunes
sigma; here :func:`select_sigma` picks it from a grid by a validation score the caller supplies
(e.g. mean corruption accuracy on the validation split), never by the test split.

    >>> import torch
    >>> from danlu.robust.gaussian import gaussian_noise, select_sigma
    >>> gaussian_noise(torch.zeros(2, 3), 0.1, generator=torch.Generator().manual_seed(0)).shape
    torch.Size([2, 3])
    >>> select_sigma([0.1, 0.2, 0.4], lambda s: -abs(s - 0.2)).sigma
    0.2
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from danlu.errors import DanluError
from danlu.robust._checks import check_eps


def gaussian_noise(x: Tensor, sigma: float, *, generator: torch.Generator | None = None,
                   clip: tuple[float, float] | None = (0.0, 1.0)) -> Tensor:
    """``clamp(x + sigma * N(0, 1), *clip)`` of x (any shape); ``clip=None`` leaves values unclamped.

    The noise is drawn from ``generator`` (default: the global RNG); sigma >= 0 in input units.
    """
    sigma = check_eps(sigma, "sigma")
    noisy = x + sigma * torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return noisy if clip is None else noisy.clamp(clip[0], clip[1])


@dataclass
class SigmaChoice:
    """What :func:`select_sigma` returns: the chosen sigma and the validation score of every candidate."""

    sigma: float
    scores: dict[float, float]


def select_sigma(sigmas: Sequence[float], score: Callable[[float], float]) -> SigmaChoice:
    """The sigma of ``sigmas`` with the highest validation ``score(sigma)`` (ties: the smaller sigma).

    Args:
        sigmas: candidate noise levels (each >= 0; 0 is "no augmentation").
        score: trains (or evaluates) with a sigma and returns a validation number, higher is better.
    """
    if not sigmas:
        raise DanluError("select_sigma: sigmas must hold at least one candidate, got none")
    cands = sorted(check_eps(s, "sigma") for s in sigmas)
    scores = {s: float(score(s)) for s in cands}
    best = max(cands, key=lambda s: (scores[s], -s))
    return SigmaChoice(sigma=best, scores=scores)


__all__ = ["SigmaChoice", "gaussian_noise", "select_sigma"]
