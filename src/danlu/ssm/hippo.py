"""HiPPO: optimal online polynomial projection (Gu, Dao, Ermon, Rudra, Ré, arXiv:2008.07669).

The coefficients c(t) ∈ R^N of the projection of a signal's history onto normalised Legendre
polynomials evolve by a linear ODE (the paper's Theorem 1 / Appendix D):

* **LegS** (scaled: uniform measure on [0, t]):  c'(t) = -(1/t) A c + (1/t) B f(t),
  A_nk = sqrt(2n+1) sqrt(2k+1) (n > k), n + 1 (n = k), 0 (n < k);  B_n = sqrt(2n+1).
* **LegT** (translated: uniform on the window [t - θ, t]):  c'(t) = -(1/θ) A c + (1/θ) B f(t),
  A_nk = sqrt(2n+1) sqrt(2k+1) · (1 if k <= n else (-1)^(n-k));  B_n = sqrt(2n+1).
  (The paper's LMU form is the same system in the basis diag((-1)^n sqrt(2n+1)) c.)

Basis: g_n(x) = sqrt(2n+1) P_n(z) with z = 2x/t - 1 (LegS) or z = 2(x - t)/θ + 1 (LegT), so
c_n = mean over the window of f · g_n and the reconstruction is f(x) ≈ Σ_n c_n g_n(x), exact for
polynomials of degree < N.
"""

from __future__ import annotations

import numpy as np
import torch

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.ssm.discretize import discretize

HIPPO_MEASURES: Registry[object] = Registry("HiPPO measure")


def _check_n(N: int) -> None:
    if not isinstance(N, int) or isinstance(N, bool) or N < 1:
        raise DanluError(f"hippo: N (number of coefficients) must be a positive int, got {N!r}")


@HIPPO_MEASURES.register("legs")
def hippo_legs(N: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegS (A (N, N), B (N,)): c' = -(1/t) A c + (1/t) B f."""
    _check_n(N)
    q = torch.arange(N, dtype=torch.float64)
    r = torch.sqrt(2 * q + 1)
    A = torch.tril(r[:, None] * r[None, :], -1) + torch.diag(q + 1)
    return A.to(dtype), r.to(dtype)


@HIPPO_MEASURES.register("legt")
def hippo_legt(N: int, dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """HiPPO-LegT for a window θ = 1 (A (N, N), B (N,)): c' = -(1/θ) A c + (1/θ) B f."""
    _check_n(N)
    q = torch.arange(N, dtype=torch.float64)
    r = torch.sqrt(2 * q + 1)
    n, k = torch.meshgrid(q, q, indexing="ij")
    sign = torch.where(k <= n, torch.ones_like(n), (-1.0) ** (n - k))
    return (r[:, None] * r[None, :] * sign).to(dtype), r.to(dtype)


def legendre_basis(z: torch.Tensor, N: int) -> torch.Tensor:
    """g_n(z) = sqrt(2n+1) P_n(z) for z in [-1, 1]: (..., ) -> (..., N), by the three-term recurrence."""
    p = [torch.ones_like(z), z]
    for n in range(1, N - 1):
        p.append(((2 * n + 1) * z * p[n] - n * p[n - 1]) / (n + 1))
    P = torch.stack(p[:N], -1)
    return P * torch.sqrt(2 * torch.arange(N, dtype=z.dtype, device=z.device) + 1)


def _window_z(x: torch.Tensor, t: float, measure: str, theta: float) -> torch.Tensor:
    return 2 * x / t - 1 if measure == "legs" else 2 * (x - t) / theta + 1


def project(f, t: float, N: int, measure: str = "legs", theta: float = 1.0, nodes: int = 64) -> torch.Tensor:
    """Exact-quadrature HiPPO coefficients at time t: c_n = mean_window f · g_n (Gauss-Legendre).

    Args:
        f: callable mapping a float64 tensor of times to values.
        t: the current time (> 0); the window is [0, t] (LegS) or [t - θ, t] (LegT).
    Returns:
        c (N,) float64. Exact for polynomials of degree < 2 * nodes - N.
    """
    HIPPO_MEASURES.get(measure)
    z, w = (torch.from_numpy(a) for a in np.polynomial.legendre.leggauss(nodes))
    lo = 0.0 if measure == "legs" else t - theta
    x = lo + (z + 1) / 2 * (t - lo)                                                # nodes in the window
    return 0.5 * (w[:, None] * f(x)[:, None] * legendre_basis(z, N)).sum(0)


def reconstruct(c: torch.Tensor, x: torch.Tensor, t: float, measure: str = "legs", theta: float = 1.0) -> torch.Tensor:
    """f(x) ≈ Σ_n c_n g_n(x) for x in the window at time t. c: (..., N); x: (P,) -> (..., P)."""
    HIPPO_MEASURES.get(measure)
    g = legendre_basis(_window_z(x.to(c.dtype), t, measure, theta), c.shape[-1])    # (P, N)
    return c @ g.T


def online_projection(f: torch.Tensor, N: int, dt: float, measure: str = "legs", theta: float = 1.0,
                      method: str = "bilinear") -> torch.Tensor:
    """Run the HiPPO ODE over samples f_k = f(k dt), k = 0..L-1: the coefficients at every step.

    Each step [t_k, t_{k+1}] takes the mean input (f_k + f_{k+1})/2 (second order with ``bilinear``).
    LegT is time-invariant: one discretisation (``method`` from :data:`DISCRETIZATIONS`), started
    from c = 0 (the window before t = 0 holds zeros). LegS is time-varying: each step is
    discretised at its midpoint t_k + dt/2, starting from c(0) = (f_0, 0, ..., 0) (the projection
    of a window of length 0).

    Args:
        f: (..., L) samples.
    Returns:
        c: (..., L, N) in f's dtype; c[..., k, :] are the coefficients at time k dt.
    """
    if f.dim() < 1 or f.shape[-1] < 1:
        raise DanluError(f"online_projection: f must be (..., L) with L >= 1, got {tuple(f.shape)}")
    A, B = HIPPO_MEASURES.get(measure)(N, f.dtype)
    L = f.shape[-1]
    if measure == "legt":
        Ad, Bd = discretize(-A / theta, B / theta, dt, method)
        Ad, Bd = Ad.expand(max(L - 1, 0), N, N), Bd.expand(max(L - 1, 0), N)
    else:
        tm = (torch.arange(L - 1, dtype=f.dtype) + 0.5) * dt                         # step midpoints
        Ad, Bd = discretize(-A / tm[:, None, None], B / tm[:, None], dt, method)
    c = torch.zeros(*f.shape[:-1], N, dtype=f.dtype)
    if measure == "legs":
        c[..., 0] = f[..., 0]
    inputs = (f[..., 1:] + f[..., :-1]) / 2                                        # mean input over each step
    out = [c]
    for k in range(L - 1):
        c = c @ Ad[k].T + inputs[..., k, None] * Bd[k]
        out.append(c)
    return torch.stack(out, -2)
