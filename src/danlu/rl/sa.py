"""Stochastic approximation: incremental mean, Robbins-Monro, SGD / mini-batch GD / BGD.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 6; Robbins & Monro,
"A Stochastic Approximation Method" (Ann. Math. Statist., 1951).

* Incremental mean (section 6.1): ``w_{k+1} = w_k - a_k (w_k - x_k)``; with ``a_k = 1/k`` this is
  exactly the sample mean of ``x_1..x_k``.
* Robbins-Monro (section 6.2): find a root of ``g`` from noisy observations
  ``g~(w_k) = g(w_k) + eta_k``: ``w_{k+1} = w_k - a_k g~(w_k)``. It converges when
  ``sum a_k = inf`` and ``sum a_k^2 < inf`` (e.g. ``a_k = 1/k``); with ``a_k = 1/k^2``,
  ``sum a_k = pi^2/6`` bounds how far ``w`` can ever travel.
* SGD as SA (section 6.4): minimise ``J(w) = E[||w - X||^2 / 2]`` (its minimiser is ``E[X]``) with
  the gradient ``w - x`` on all samples (BGD), a random mini-batch of ``m`` (MBGD) or one sample (SGD).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from danlu.errors import DanluError
from danlu.registry import Registry

#: Step-size schedules: name -> factory(scale) -> a(k) for k = 1, 2, ...
STEP_SIZES: Registry[Callable[[float], Callable[[np.ndarray], np.ndarray]]] = Registry("step-size schedule")
STEP_SIZES.add("1/k", lambda c=1.0: lambda k: c / k)
STEP_SIZES.add("1/k^2", lambda c=1.0: lambda k: c / k**2)
STEP_SIZES.add("1/sqrt(k)", lambda c=1.0: lambda k: c / np.sqrt(k))
STEP_SIZES.add("constant", lambda c=0.1: lambda k: np.full(np.shape(k), c, dtype=np.float64))


def step_sizes(schedule: str | Callable[[np.ndarray], np.ndarray], n: int, scale: float | None = None) -> np.ndarray:
    """(n,) step sizes ``a_1..a_n`` from a schedule name (see :data:`STEP_SIZES`) or a callable of k."""
    k = np.arange(1, n + 1, dtype=np.float64)
    if callable(schedule):
        fn = schedule
    else:
        factory = STEP_SIZES.get(schedule)
        fn = factory() if scale is None else factory(scale)
    a = np.broadcast_to(np.asarray(fn(k), dtype=np.float64), (n,)).copy()
    if (a < 0).any() or not np.isfinite(a).all():
        raise DanluError(f"step sizes must be finite and non-negative; schedule {schedule!r} gave {a[:3]}...")
    return a


def incremental_mean(samples: np.ndarray, schedule: str | Callable = "1/k", w1: float | np.ndarray = 0.0) -> np.ndarray:
    """Running estimates of ``E[X]`` by ``w_{k+1} = w_k - a_k (w_k - x_k)``.

    Args:
        samples: (K,) or (K, d) samples ``x_1..x_K``.
    Returns:
        (K, ...) ``w_2..w_{K+1}``; with ``"1/k"`` row k-1 equals ``mean(x_1..x_k)``.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 0 or x.shape[0] == 0:
        raise DanluError(f"samples must be a non-empty (K,) or (K, d) array, got shape {x.shape}")
    a = step_sizes(schedule, x.shape[0])
    w = np.broadcast_to(np.asarray(w1, dtype=np.float64), x.shape[1:]).copy()
    out = np.empty_like(x)
    for k in range(x.shape[0]):
        w = w - a[k] * (w - x[k])
        out[k] = w
    return out


def robbins_monro(g: Callable[[float], float], w1: float, steps: int, schedule: str | Callable = "1/k", *,
                  noise_std: float = 0.0, seed: int = 0) -> np.ndarray:
    """Robbins-Monro iterates ``w_1..w_{steps+1}`` for the root of ``g`` (increasing, as the theorem needs).

    Args:
        g: the function (vectorised or scalar) whose root is sought.
        noise_std: std of Gaussian observation noise ``eta_k`` added to ``g(w_k)``.
    Returns:
        (steps + 1,) iterates starting with ``w1``.
    """
    if steps < 1:
        raise DanluError(f"steps must be >= 1, got {steps}")
    a = step_sizes(schedule, steps)
    eta = np.random.default_rng(seed).normal(0.0, noise_std, size=steps) if noise_std > 0 else np.zeros(steps)
    w = np.empty(steps + 1)
    w[0] = w1
    for k in range(steps):
        w[k + 1] = w[k] - a[k] * (float(g(w[k])) + eta[k])
    return w


#: Gradient-descent variants for mean estimation: name -> batch size rule (None = all samples).
GD_METHODS = ("sgd", "mbgd", "bgd")


def mean_estimation_gd(samples: np.ndarray, method: str = "sgd", *, steps: int = 100, batch_size: int = 5,
                       schedule: str | Callable = "1/k", w1: np.ndarray | float | None = None,
                       seed: int = 0) -> np.ndarray:
    """Estimate ``E[X]`` by minimising ``E[||w - X||^2 / 2]`` with BGD, mini-batch GD or SGD (book section 6.4).

    Args:
        samples: (n, d) or (n,) data ``{x_i}``.
        method: ``"bgd"`` (gradient on all n samples), ``"mbgd"`` (``batch_size`` samples drawn with
            replacement each step), ``"sgd"`` (one sample drawn each step).
        w1: the starting estimate, (d,) or a scalar; None means 0 (the book starts far away, e.g. [50, 50]).
    Returns:
        (steps + 1, ...) iterates.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if method not in GD_METHODS:
        raise DanluError(f"unknown method {method!r}; valid: {', '.join(GD_METHODS)}")
    if steps < 1 or batch_size < 1:
        raise DanluError(f"steps and batch_size must be >= 1, got {steps}, {batch_size}")
    n = x.shape[0]
    rng = np.random.default_rng(seed)
    a = step_sizes(schedule, steps)
    m = {"sgd": 1, "mbgd": batch_size, "bgd": n}[method]
    w = np.zeros(x.shape[1]) if w1 is None else np.broadcast_to(np.asarray(w1, dtype=np.float64), x.shape[1:]).copy()
    out = np.empty((steps + 1, x.shape[1]))
    out[0] = w
    for k in range(steps):
        batch = x if method == "bgd" else x[rng.integers(n, size=m)]  # (m, d)
        w = w - a[k] * (w - batch.mean(axis=0))
        out[k + 1] = w
    return out if np.ndim(samples) > 1 else out[:, 0]
