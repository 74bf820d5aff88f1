"""rl-sa: stochastic approximation converges when sum a_k = inf and sum a_k^2 < inf, and fails otherwise.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 6; H. Robbins and S. Monro,
"A Stochastic Approximation Method", Ann. Math. Statist. 22 (1951). The book's example: find the root
of ``g(w) = tanh(w - 1)`` from ``w1 = 3``. With ``a_k = 1/k`` the iterates reach ``w* = 1``; with
``a_k = 1/k^2`` the steps sum to ``pi^2/6`` and ``|g| < 1``, so ``w`` can never move more than 1.64
from the start. Also: incremental mean estimation equals the running sample mean, and SGD / mini-batch
GD / BGD on ``E||w - X||^2 / 2`` estimate ``E[X]`` (section 6.4).
"""

from __future__ import annotations

import numpy as np

from danlu.lab import CardContext, CardResult, card


@card(
    id="rl-sa",
    title="Stochastic approximation: Robbins-Monro, incremental mean, SGD",
    claim=("Robbins-Monro on g(w) = tanh(w - 1) from w1 = 3 converges to the root with a_k = 1/k but not with "
           "a_k = 1/k^2, and incremental mean estimation converges exactly like the sample mean."),
    source="Zhao, Mathematical Foundations of RL, ch. 6 (stochastic approximation)",
    area="rl",
    quick={"steps": 2000, "noise": 0.5, "noisy_steps": 20000, "samples": 5000, "gd_steps": 300},
    full={"steps": 100000, "noisy_steps": 500000, "samples": 200000, "gd_steps": 3000},
)
def rl_sa(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots
    from danlu.rl import incremental_mean, mean_estimation_gd, robbins_monro

    b = ctx.budget
    g = np.tanh  # applied to w - 1 below

    def gfun(w: float) -> float:
        return float(g(w - 1.0))

    runs = {
        "a_k = 1/k": robbins_monro(gfun, 3.0, b["steps"], "1/k"),
        "a_k = 1/k^2": robbins_monro(gfun, 3.0, b["steps"], "1/k^2"),
        f"a_k = 1/k, noise std {b['noise']}": robbins_monro(gfun, 3.0, b["noisy_steps"], "1/k",
                                                            noise_std=b["noise"], seed=ctx.seed),
        f"a_k = 1/k^2, noise std {b['noise']}": robbins_monro(gfun, 3.0, b["noisy_steps"], "1/k^2",
                                                              noise_std=b["noise"], seed=ctx.seed),
    }
    rows = [{"experiment": f"Robbins-Monro, {k}", "steps": len(w) - 1, "final w": float(w[-1]),
             "|w - w*|": float(abs(w[-1] - 1.0))} for k, w in runs.items()]
    err = {k: abs(w[-1] - 1.0) for k, w in runs.items()}
    rm_ok = err["a_k = 1/k"] < 1e-2 and err["a_k = 1/k^2"] > 0.1

    rng = np.random.default_rng(ctx.seed)
    x = rng.normal(5.0, 2.0, size=b["samples"])  # E[X] = 5
    inc = incremental_mean(x)
    sample_mean = np.cumsum(x) / np.arange(1, x.size + 1)
    gap = float(np.abs(inc - sample_mean).max())
    mean_ok = gap < 1e-9 and abs(inc[-1] - 5.0) < 6 * 2.0 / np.sqrt(x.size)
    rows.append({"experiment": "incremental mean vs sample mean", "steps": x.size, "final w": float(inc[-1]),
                 "|w - w*|": float(abs(inc[-1] - 5.0)), "max |incremental - sample mean|": gap})

    pts = rng.uniform(-10, 10, size=(100, 2))  # the book's example: 100 points in a 20x20 square
    gd = {f"{m} (m={bs})": mean_estimation_gd(pts, m, steps=b["gd_steps"], batch_size=bs, w1=[50.0, 50.0],
                                              seed=ctx.seed)
          for m, bs in (("sgd", 1), ("mbgd", 5), ("mbgd", 50), ("bgd", 100))}
    for k, t in gd.items():
        rows.append({"experiment": f"mean estimation, {k}", "steps": b["gd_steps"], "final w": float(t[-1, 0]),
                     "|w - w*|": float(np.linalg.norm(t[-1] - pts.mean(0)))})
    held = rm_ok and mean_ok

    fig, axes = subplots(1, 2, width=4.6)
    for k, w in runs.items():
        axes[0, 0].plot(np.arange(1, len(w) + 1), w, label=k, lw=1)
    axes[0, 0].axhline(1.0, color="k", ls=":", lw=1)
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xlabel("k")
    axes[0, 0].set_ylabel("w_k")
    axes[0, 0].set_title("Robbins-Monro on tanh(w - 1)")
    axes[0, 0].legend(fontsize=7)
    n = np.arange(1, x.size + 1)
    axes[0, 1].loglog(n, np.abs(inc - 5.0), label="incremental", lw=1)
    axes[0, 1].loglog(n, np.abs(sample_mean - 5.0), ls="--", label="sample mean", lw=1)
    axes[0, 1].loglog(n, 2.0 / np.sqrt(n), color="k", ls=":", label="sigma / sqrt(k)")
    axes[0, 1].set_xlabel("k")
    axes[0, 1].set_ylabel("|w_k - E[X]|")
    axes[0, 1].legend(fontsize=7)
    ctx.figure("robbins-monro", fig, caption="Left: a_k = 1/k reaches w* = 1, 1/k^2 stalls. Right: incremental = sample mean.")
    fig, axes = subplots(1, 1, width=4.6)
    for k, t in gd.items():
        axes[0, 0].semilogy(np.arange(len(t)), np.linalg.norm(t - pts.mean(0), axis=1) + 1e-16, label=k, lw=1)
    axes[0, 0].set_xlabel("iteration k")
    axes[0, 0].set_ylabel("|w_k - mean|")
    axes[0, 0].legend(fontsize=7)
    ctx.figure("gd-variants", fig, caption="SGD, mini-batch GD and BGD estimating a mean (book section 6.4).")
    return CardResult(
        table=rows, held=held,
        reason=(f"|w - 1| after {b['steps']} steps: {err['a_k = 1/k']:.1e} with 1/k, {err['a_k = 1/k^2']:.2f} with "
                f"1/k^2 (noisy: {rows[2]['|w - w*|']:.3f} vs {rows[3]['|w - w*|']:.2f}); incremental mean differs "
                f"from the sample mean by at most {gap:.1e} and ends {abs(inc[-1] - 5.0):.3f} from E[X] = 5."),
    )
