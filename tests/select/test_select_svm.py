"""The support-vector view (issue 20): SVC support vectors, overlap statistics and their random baselines.

References: sklearn's SVC (its decision function refit on the support vectors alone is unchanged,
the defining property of support vectors); the random-subset expectations against brute-force
enumeration of every k-subset (precision) and a closed-form check (Jaccard).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from danlu.errors import DanluError, UnknownNameError
from danlu.select.svm import compare_with_svm, overlap, random_jaccard, support_vectors, two_d_dataset


@pytest.mark.parametrize("kind", ["moons", "blobs"])
def test_two_d_dataset_is_standardized_seeded_and_two_class(kind):
    a = two_d_dataset(kind, 101, noise=0.2, seed=5)
    b = two_d_dataset(kind, 101, noise=0.2, seed=5)
    x, y = a.tensors
    assert x.shape == (101, 2) and x.dtype == torch.float32 and set(y.tolist()) == {0, 1}
    assert torch.equal(x, b.tensors[0])
    torch.testing.assert_close(x.mean(0), torch.zeros(2), atol=1e-5, rtol=0)
    torch.testing.assert_close(x.std(0), torch.ones(2), atol=1e-5, rtol=0)


@pytest.mark.parametrize("kernel", ["rbf", "linear"])
def test_support_vectors_alone_give_the_same_svm(kernel):
    from sklearn.svm import SVC

    x, y = two_d_dataset("moons", 120, noise=0.25, seed=0).tensors
    sv = support_vectors(x, y, kernel=kernel)
    assert 0 < len(sv) < 120
    xs, ys, xd = x.double().numpy(), y.numpy(), x.double().numpy()
    full = SVC(kernel=kernel, gamma="scale").fit(xs, ys)
    # gamma="scale" depends on the data's variance: pin it to the full fit's value for the refit
    refit = SVC(kernel=kernel, gamma=full._gamma).fit(xs[sv.numpy()], ys[sv.numpy()])
    np.testing.assert_allclose(refit.decision_function(xd), full.decision_function(xd), atol=1e-3)


def test_overlap_counts_by_hand():
    o = overlap(torch.tensor([0, 1, 2, 3]), torch.tensor([2, 3, 4]), 10)
    assert (o.precision, o.jaccard, o.random_precision, o.k, o.m, o.n) == (0.5, 2 / 5, 0.3, 4, 3, 10)


@pytest.mark.parametrize("n, m, k", [(6, 2, 3), (7, 3, 3), (5, 5, 2), (8, 1, 8)])
def test_random_baselines_equal_brute_force_over_every_k_subset(n, m, k):
    ref = set(range(m))
    subsets = list(itertools.combinations(range(n), k))
    jac = np.mean([len(ref & set(s)) / len(ref | set(s)) for s in subsets])
    prec = np.mean([len(ref & set(s)) / k for s in subsets])
    o = overlap(torch.tensor(subsets[0]), torch.tensor(sorted(ref)), n)
    assert random_jaccard(n, m, k) == pytest.approx(jac, rel=1e-12)
    assert o.random_precision == pytest.approx(prec, rel=1e-12)


def test_compare_with_svm_perfect_and_reversed_scores():
    x, y = two_d_dataset("moons", 150, noise=0.2, seed=1).tensors
    sv = support_vectors(x, y)
    perfect = torch.zeros(150)
    perfect[sv] = 1.0
    o = compare_with_svm(perfect, x, y)
    assert o.k == len(sv) and o.precision == 1.0 and o.jaccard == 1.0
    worst = compare_with_svm(-perfect, x, y)
    assert worst.precision == 0.0 and worst.random_precision == pytest.approx(len(sv) / 150)


def test_bad_inputs():
    x, y = two_d_dataset("moons", 40, seed=0).tensors
    with pytest.raises(UnknownNameError, match="valid: blobs, moons"):
        two_d_dataset("circles")
    with pytest.raises(DanluError, match="kernel must be one of linear, rbf"):
        support_vectors(x, y, kernel="poly")
    with pytest.raises(DanluError, match="shape \\(40,\\)"):
        compare_with_svm(torch.zeros(39), x, y)
    with pytest.raises(DanluError, match="k must be in"):
        compare_with_svm(torch.zeros(40), x, y, k=0)
    with pytest.raises(DanluError, match="repeat"):
        overlap(torch.tensor([1, 1]), torch.tensor([1]), 5)
