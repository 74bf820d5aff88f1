"""HiPPO LegS/LegT: closed forms from the paper (arXiv:2008.07669), the ODE derived from first
principles (finite differences of exact-quadrature projections), exact reconstruction of
polynomials of degree < N, and discretisations against scipy.signal.cont2discrete."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import cont2discrete

from danlu.errors import DanluError
from danlu.ssm.discretize import DISCRETIZATIONS, discretize
from danlu.ssm.hippo import hippo_legs, hippo_legt, online_projection, project, reconstruct

N = 8


def poly(deg, seed=0):
    coef = torch.from_numpy(np.random.default_rng(seed).normal(size=deg + 1))

    def f(x):
        return sum(c * x ** i for i, c in enumerate(coef))
    return f


def test_legs_closed_form():
    """Paper eq. (LegS): A_nk = sqrt((2n+1)(2k+1)) for n > k, n + 1 on the diagonal, 0 above; B_n = sqrt(2n+1)."""
    A, B = hippo_legs(N)
    for n in range(N):
        assert B[n] == pytest.approx((2 * n + 1) ** 0.5)
        for k in range(N):
            want = ((2 * n + 1) * (2 * k + 1)) ** 0.5 if n > k else (n + 1 if n == k else 0.0)
            assert A[n, k] == pytest.approx(want, abs=1e-14)


def test_legt_equals_the_papers_lmu_form_in_its_basis():
    """Paper's LegT (LMU form, θ = 1): A_nk = (2n+1)·(-1 if n < k else (-1)^(n-k+1)), B_n = (2n+1)(-1)^n,
    c' = A c + B f. danlu's normalised LegT is the same system under S = diag((-1)^n sqrt(2n+1))."""
    A, B = hippo_legt(N)
    q = torch.arange(N, dtype=torch.float64)
    n, k = torch.meshgrid(q, q, indexing="ij")
    A_paper = torch.where(n < k, -torch.ones_like(n), (-1.0) ** (n - k + 1)) * (2 * q + 1)[:, None]
    B_paper = (-1.0) ** q * (2 * q + 1)
    S = torch.diag((-1.0) ** q * torch.sqrt(2 * q + 1))
    torch.testing.assert_close(S @ (-A) @ torch.linalg.inv(S), A_paper, atol=1e-12, rtol=0)
    torch.testing.assert_close(S @ B, B_paper, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("measure", "t"), [("legs", 1.7), ("legt", 2.3)])
def test_matrices_satisfy_the_projection_ode(measure, t):
    """c(t) by exact quadrature; its derivative (central differences) equals ∓(1/s)(A c) + (1/s) B f(t),
    s = t (LegS) or θ (LegT). Holds exactly for f of degree < N, so this checks A and B from first principles."""
    A, B = (hippo_legs if measure == "legs" else hippo_legt)(N)
    f, theta, h = poly(N - 1, seed=1), 0.9, 1e-4
    c = project(f, t, N, measure, theta)
    dc = (project(f, t + h, N, measure, theta) - project(f, t - h, N, measure, theta)) / (2 * h)
    s = t if measure == "legs" else theta
    want = (-A @ c + B * f(torch.tensor(t, dtype=torch.float64))) / s
    torch.testing.assert_close(dc, want, atol=1e-6 * want.abs().max().item(), rtol=0)


@pytest.mark.parametrize("measure", ["legs", "legt"])
def test_reconstruction_exact_below_degree_n_only(measure):
    t, theta = 3.0, 1.5
    lo = 0.0 if measure == "legs" else t - theta
    x = torch.linspace(lo, t, 101, dtype=torch.float64)
    for deg in (0, 3, N - 1):
        f = poly(deg, seed=deg)
        err = (reconstruct(project(f, t, N, measure, theta), x, t, measure, theta) - f(x)).abs().max()
        assert err < 1e-10 * f(x).abs().max()
    f = poly(N + 1, seed=9)                                                       # degree >= N: not exact
    err = (reconstruct(project(f, t, N, measure, theta), x, t, measure, theta) - f(x)).abs().max()
    assert err > 1e-6 * f(x).abs().max()                                        # vs < 1e-10 above


def test_online_legs_converges_second_order_to_exact_projection():
    """The discretised LegS ODE (bilinear) approaches the exact projection at rate dt^2."""
    f, T = poly(5, seed=3), 1.0
    errs = []
    for L in (101, 201, 401):
        dt = T / (L - 1)
        x = torch.arange(L, dtype=torch.float64) * dt
        c = online_projection(f(x), N, dt, "legs")
        errs.append((c[-1] - project(f, T, N, "legs")).abs().max().item())
    assert errs[-1] < 1e-5
    assert 3.0 < errs[0] / errs[1] < 5.0 and 3.0 < errs[1] / errs[2] < 5.0, errs


def test_online_legt_tracks_a_smooth_signal_in_its_window():
    dt, theta, L = 1e-3, 0.5, 1500
    x = torch.arange(L, dtype=torch.float64) * dt
    f = torch.sin(2 * torch.pi * x) * x ** 2
    c = online_projection(f, 16, dt, "legt", theta=theta, method="zoh")
    t = x[-1].item()
    xs = torch.linspace(t - theta, t, 50, dtype=torch.float64)
    rec = reconstruct(c[-1], xs, t, "legt", theta)
    want = torch.sin(2 * torch.pi * xs) * xs ** 2
    assert (rec - want).abs().max() < 1e-3 * want.abs().max()


@pytest.mark.parametrize(("method", "scipy_name"), [("zoh", "zoh"), ("bilinear", "bilinear"),
                                                    ("forward_euler", "euler"), ("backward_euler", "backward_diff")])
def test_discretizations_match_scipy(method, scipy_name):
    A, B = hippo_legs(6)
    A = -A
    Ad, Bd = discretize(A, B, 0.05, method)
    sAd, sBd, *_ = cont2discrete((A.numpy(), B.numpy()[:, None], np.eye(6), np.zeros((6, 1))), 0.05,
                                 method=scipy_name)
    np.testing.assert_allclose(Ad.numpy(), sAd, atol=1e-12)
    np.testing.assert_allclose(Bd.numpy(), sBd[:, 0], atol=1e-12)
    assert set(DISCRETIZATIONS) >= {"zoh", "bilinear", "forward_euler", "backward_euler"}


def test_bad_input():
    with pytest.raises(DanluError, match="N"):
        hippo_legs(0)
    with pytest.raises(DanluError, match="unknown HiPPO measure 'legx'"):
        project(lambda x: x, 1.0, 4, "legx")
    with pytest.raises(DanluError, match=r"B \(5,\).*A \(4, 4\)"):
        discretize(torch.eye(4), torch.ones(5), 0.1)
    with pytest.raises(DanluError, match="dt"):
        discretize(torch.eye(4), torch.ones(4), -1.0)
    with pytest.raises(DanluError, match="unknown discretization 'rk4'"):
        discretize(torch.eye(4), torch.ones(4), 0.1, "rk4")
