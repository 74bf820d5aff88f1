"""Stochastic approximation (book chapter 6; Robbins & Monro 1951)."""

from __future__ import annotations

import numpy as np
import pytest

from danlu.errors import DanluError, UnknownNameError
from danlu.rl import incremental_mean, mean_estimation_gd, robbins_monro, step_sizes


def test_incremental_mean_equals_sample_mean():
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(500, 2))
    w = incremental_mean(x)
    ref = np.cumsum(x, axis=0) / np.arange(1, 501)[:, None]
    np.testing.assert_allclose(w, ref, rtol=1e-12, atol=1e-12)


def test_robbins_monro_tanh_example():
    """Book section 6.2: g(w) = tanh(w - 1), w1 = 3, a_k = 1/k converges to the root w* = 1."""
    g = lambda w: np.tanh(w - 1)  # noqa: E731
    w = robbins_monro(g, 3.0, 2000, "1/k")
    assert abs(w[-1] - 1.0) < 1e-3
    assert np.all(np.diff(w) <= 0)  # from above, monotonically, without noise
    # 1/k^2: sum a_k = pi^2/6 and |g| < 1, so w never gets closer than 3 - pi^2/6 to the start... > root
    w2 = robbins_monro(g, 3.0, 2000, "1/k^2")
    assert w2.min() > 3.0 - np.pi**2 / 6 and abs(w2[-1] - 1.0) > 0.3
    # with observation noise 1/k still gets there
    wn = robbins_monro(g, 3.0, 20000, "1/k", noise_std=0.5, seed=0)
    assert abs(wn[-1] - 1.0) < 0.1


def test_gd_variants_estimate_the_mean():
    """Book section 6.4: BGD, MBGD and SGD on J(w) = E||w - X||^2 / 2 all approach the sample mean."""
    x = np.random.default_rng(0).uniform(-10, 10, size=(100, 2))
    m = x.mean(0)
    bgd = mean_estimation_gd(x, "bgd", steps=50, w1=[50.0, 50.0])
    np.testing.assert_allclose(bgd[-1], m, atol=1e-12)  # with a_k = 1/k, BGD lands on the mean at k = 1
    errs = {}
    for method, bs in (("sgd", 1), ("mbgd", 5), ("mbgd", 50)):
        traj = mean_estimation_gd(x, method, steps=400, batch_size=bs, w1=[50.0, 50.0], seed=1)
        errs[(method, bs)] = np.linalg.norm(traj[-1] - m)
        assert errs[(method, bs)] < 3.0
    assert errs[("mbgd", 50)] < errs[("sgd", 1)]


def test_step_sizes_and_bad_inputs():
    np.testing.assert_allclose(step_sizes("1/k", 3), [1, 0.5, 1 / 3])
    np.testing.assert_allclose(step_sizes("constant", 2, scale=0.2), [0.2, 0.2])
    with pytest.raises(UnknownNameError, match="valid: 1/k, 1/k\\^2"):
        step_sizes("1/k^3", 3)
    with pytest.raises(DanluError, match="valid: sgd, mbgd, bgd"):
        mean_estimation_gd(np.zeros((3, 2)), "adam")
    with pytest.raises(DanluError, match="non-empty"):
        incremental_mean(np.zeros(0))
