"""The support-vector view: do a network's high-score examples sit where an SVM's support vectors sit?

An SVM's decision function depends only on its support vectors (the points on or inside the
margin; Cortes & Vapnik 1995); retrained on them alone, it gives the same classifier. The data-diet
scores (EL2N, GraNd, forgetting, AUM) are proposed as deep learning's analogue. This module makes
a 2-D dataset, fits sklearn's ``SVC`` (RBF or linear) on it, and compares the ``k`` top-scored
points with the support vectors: precision@k (the share of the top ``k`` that are support vectors)
and Jaccard, each next to its exact expectation for a uniformly random ``k``-subset
(hypergeometric: precision ``m / N``; Jaccard ``E[I / (k + m - I)]``, ``I ~ Hypergeom(N, m, k)``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.registry import Registry

#: name -> ``fn(n, noise, seed) -> (x (n, 2) float64 numpy, y (n,) int numpy)`` (sklearn generators)
TWO_D: Registry = Registry("2-D dataset")


@TWO_D.register("moons")
def _moons(n: int, noise: float, seed: int):
    from sklearn.datasets import make_moons

    return make_moons(n_samples=n, noise=noise, random_state=seed)


@TWO_D.register("blobs")
def _blobs(n: int, noise: float, seed: int):
    from sklearn.datasets import make_blobs

    return make_blobs(n_samples=n, centers=[(-1.0, 0.0), (1.0, 0.0)], cluster_std=max(noise, 1e-3) * 2.5,
                      random_state=seed)


def two_d_dataset(kind: str = "moons", n: int = 300, *, noise: float = 0.2, seed: int = 0) -> TensorDataset:
    """A standardized two-class 2-D dataset: ``TensorDataset(x (n, 2) float32, y (n,) int64)``.

    ``moons``: sklearn's two interleaved half circles with Gaussian noise ``noise``; ``blobs``: two
    Gaussian blobs at (+-1, 0) with standard deviation ``2.5 * noise``. Features are standardized
    (zero mean, unit variance), so an RBF SVC with ``gamma="scale"`` and an MLP see the same scale.
    """
    make = TWO_D.get(kind)
    if not isinstance(n, int) or n < 4:
        raise DanluError(f"two_d_dataset: n must be an int >= 4, got {n!r}")
    if noise < 0:
        raise DanluError(f"two_d_dataset: noise must be non-negative, got {noise}")
    x, y = make(n, noise, seed)
    x = torch.as_tensor(x, dtype=torch.float64)
    x = (x - x.mean(0)) / x.std(0)
    return TensorDataset(x.float(), torch.as_tensor(y, dtype=torch.long))


KERNELS = ("linear", "rbf")


def support_vectors(x: Tensor, y: Tensor, *, kernel: str = "rbf", C: float = 1.0) -> Tensor:
    """Indices (m,) int64, ascending, of the support vectors of ``sklearn.svm.SVC(kernel, C, gamma="scale")``.

    x (N, D), y (N,) class labels.
    """
    from sklearn.svm import SVC

    if kernel not in KERNELS:
        raise DanluError(f"kernel must be one of {', '.join(KERNELS)}, got {kernel!r}")
    if C <= 0:
        raise DanluError(f"C must be positive, got {C}")
    svc = SVC(kernel=kernel, C=C, gamma="scale").fit(x.double().numpy(), y.numpy())
    return torch.sort(torch.as_tensor(svc.support_, dtype=torch.long)).values


@dataclass(frozen=True)
class Overlap:
    """How a selected set of ``k`` indices overlaps a reference set of ``m`` (of ``n``).

    Attributes:
        precision: |selected & reference| / k.
        jaccard: |selected & reference| / |selected | reference|.
        random_precision: the expected precision of a uniformly random k-subset, m / n.
        random_jaccard: the expected Jaccard of a uniformly random k-subset (hypergeometric).
        k, m, n: the sizes.
    """

    precision: float
    jaccard: float
    random_precision: float
    random_jaccard: float
    k: int
    m: int
    n: int


def random_jaccard(n: int, m: int, k: int) -> float:
    """``E[I / (k + m - I)]`` for ``I ~ Hypergeom(n, m, k)``: the mean Jaccard of a random k-subset with an m-set."""
    from scipy.stats import hypergeom

    lo, hi = max(0, k + m - n), min(k, m)
    return float(sum(hypergeom.pmf(i, n, m, k) * i / (k + m - i) for i in range(lo, hi + 1) if k + m - i > 0))


def overlap(selected: Tensor, reference: Tensor, n: int) -> Overlap:
    """:class:`Overlap` of index sets ``selected`` (k,) and ``reference`` (m,) within ``range(n)``."""
    a, b = set(selected.tolist()), set(reference.tolist())
    if len(a) != len(selected) or len(b) != len(reference):
        raise DanluError("overlap: index sets must not repeat an index")
    if not a or any(i < 0 or i >= n for i in a | b):
        raise DanluError(f"overlap: selected must be non-empty and every index in [0, {n})")
    inter, k, m = len(a & b), len(a), len(b)
    return Overlap(precision=inter / k, jaccard=inter / len(a | b), random_precision=m / n,
                   random_jaccard=random_jaccard(n, m, k), k=k, m=m, n=n)


def compare_with_svm(hardness: Tensor, x: Tensor, y: Tensor, *, kernel: str = "rbf", C: float = 1.0,
                     k: int | None = None) -> Overlap:
    """Overlap of the ``k`` hardest examples (highest ``hardness`` (N,)) with SVC's support vectors.

    ``k`` defaults to the number of support vectors, so precision@k equals recall and a perfect
    score picks exactly the support vectors.
    """
    sv = support_vectors(x, y, kernel=kernel, C=C)
    n = len(y)
    if hardness.shape != (n,):
        raise DanluError(f"hardness must have shape ({n},) like the labels, got {tuple(hardness.shape)}")
    k = len(sv) if k is None else k
    if not 1 <= k <= n:
        raise DanluError(f"k must be in [1, {n}], got {k}")
    top = torch.argsort(-hardness.double(), stable=True)[:k]
    return overlap(top, sv, n)
