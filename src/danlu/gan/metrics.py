"""GAN sample metrics: modes covered, the fraction of high-quality samples, W1 (critic estimate and exact).

Modes and quality follow Srivastava et al. 2017 (VEEGAN, arXiv:1705.07761, section 5.1): a sample is
high quality when within 3 standard deviations of its nearest mixture mean; a mode is covered when it
receives at least ``share`` of the samples a uniform generator would give it (danlu's gan task uses
``share = 0.25``; VEEGAN counts 20 of 2500 samples for the grid, share 0.2).

The exact 1-Wasserstein distance between two equal-weight sample sets with Euclidean ground cost is
an optimal-transport linear program, solved by POT's network simplex (``ot.emd2``; Flamary et al.
2021, JMLR 22(78)). The critic's estimate is E[f(real)] - E[f(fake)] (Arjovsky et al. 2017,
arXiv:1701.07875, eq. 3): a lower bound up to the critic's Lipschitz constant.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from danlu.errors import DanluError

MODE_SHARE = 0.25  # the gan task's coverage threshold (a quarter of a uniform generator's share)
K_SIGMA = 3.0


def mode_stats(samples: Tensor, centers: Tensor, std: float, *, k_sigma: float = K_SIGMA,
               share: float = MODE_SHARE) -> dict[str, float]:
    """``{"modes": covered count, "quality": high-quality fraction, "counts": per-mode high-quality counts}``.

    samples (N, D), centers (K, D), std the component standard deviation.
    """
    if samples.dim() != 2 or centers.dim() != 2 or samples.shape[1] != centers.shape[1] or len(samples) == 0:
        raise DanluError(f"mode_stats: samples (N, D) and centers (K, D) must share D, got {tuple(samples.shape)} "
                         f"and {tuple(centers.shape)}")
    dist, nearest = torch.cdist(samples.float(), centers.float()).min(1)  # (N,), (N,)
    good = dist <= k_sigma * std
    counts = torch.bincount(nearest[good], minlength=len(centers))  # (K,)
    n, k = len(samples), len(centers)
    return {"modes": float((counts >= share * n / k).sum()), "quality": float(good.double().mean()),
            "counts": counts.tolist()}


def exact_w1(a: Tensor, b: Tensor) -> float:
    """Exact W1 between the empirical distributions of ``a`` (N, D) and ``b`` (M, D) (uniform weights,
    Euclidean cost), by ``ot.emd2`` in float64."""
    import numpy as np
    import ot

    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1] or not len(a) or not len(b):
        raise DanluError(f"exact_w1: a (N, D) and b (M, D) must be non-empty and share D, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    x, y = a.detach().double().cpu().numpy(), b.detach().double().cpu().numpy()
    cost = ot.dist(x, y, metric="euclidean")
    return float(ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), cost, numItermax=10**7))


@torch.no_grad()
def critic_w1(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor) -> float:
    """The critic's W1 estimate mean f(real) - mean f(fake) for real (N, D), fake (M, D)."""
    return float(critic(real).mean() - critic(fake).mean())
