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
from danlu.lab.evidence import Decision, Estimate, all_of, decide


def rl_sa_rule(err_1k: float, err_1k2: float, noisy_1k: Estimate, noisy_1k2: Estimate, mean_gap: float,
               mean_sigmas: float) -> Decision:
    """Held when all three parts hold:
    (a) noise-free Robbins-Monro on tanh(w - 1) from w1 = 3 ends within 1e-2 of the root w* = 1 with
        a_k = 1/k, and more than 0.1 from it with a_k = 1/k^2 (the 1/k error decays like 1/k, ~1e-3
        after 2000 steps, so 1e-2 leaves 10x; with 1/k^2 the steps sum to pi^2/6 and |g| < 1, so w
        stays at least 3 - 1.64 - 1 = 0.36 from the root);
    (b) with observation noise (std 0.5) over the seeds, the 95% interval of the final |w - 1| lies
        below 0.05 with 1/k (its spread is ~0.5 / sqrt(k), ~0.004 at k = 20000) and above 0.1 with
        1/k^2 (it stops at a random point: the noise adds sd ~0.5 to where it stalls);
    (c) the incremental mean equals the running sample mean to 1e-9 at every step (float64 rounding
        over 5000 steps is ~1e-12) and ends within 6 standard errors of E[X].
    Not held when a part fails (an interval wholly on the wrong side); inconclusive when an interval
    straddles its margin.
    """
    exact = bool(err_1k < 1e-2 and err_1k2 > 0.1)
    noisy = all_of(decide(noisy_1k, 0.05, higher_is_better=False), decide(noisy_1k2, 0.1))
    mean = bool(mean_gap < 1e-9 and mean_sigmas < 6.0)
    return all_of(exact, noisy, mean)


@card(
    id="rl-sa",
    title="Stochastic approximation: Robbins-Monro, incremental mean, SGD",
    claim=("Robbins-Monro on g(w) = tanh(w - 1) from w1 = 3 converges to the root with a_k = 1/k but not with "
           "a_k = 1/k^2, and incremental mean estimation converges exactly like the sample mean."),
    source="Zhao, Mathematical Foundations of RL, ch. 6 (stochastic approximation)",
    area="rl",
    quick={"steps": 2000, "noise": 0.5, "noisy_steps": 20000, "samples": 5000, "gd_steps": 300, "seeds": 5},
    full={"steps": 100000, "noisy_steps": 500000, "samples": 200000, "gd_steps": 3000, "seeds": 10},
    rule=rl_sa_rule,
)
def rl_sa(ctx: CardContext) -> CardResult:
    from danlu.lab.evidence import estimate, seeds_for
    from danlu.plotting import subplots
    from danlu.rl import incremental_mean, mean_estimation_gd, robbins_monro

    b = ctx.budget
    g = np.tanh  # applied to w - 1 below

    def gfun(w: float) -> float:
        return float(g(w - 1.0))

    seeds = seeds_for(ctx.seed, int(b["seeds"]))
    noisy = {sch: [robbins_monro(gfun, 3.0, b["noisy_steps"], sch, noise_std=b["noise"], seed=s) for s in seeds]
             for sch in ("1/k", "1/k^2")}
    runs = {
        "a_k = 1/k": robbins_monro(gfun, 3.0, b["steps"], "1/k"),
        "a_k = 1/k^2": robbins_monro(gfun, 3.0, b["steps"], "1/k^2"),
        f"a_k = 1/k, noise std {b['noise']}": noisy["1/k"][0],
        f"a_k = 1/k^2, noise std {b['noise']}": noisy["1/k^2"][0],
    }
    err = {k: abs(w[-1] - 1.0) for k, w in runs.items()}
    noisy_err = {sch: estimate([abs(w[-1] - 1.0) for w in ws]) for sch, ws in noisy.items()}
    rows = [{"experiment": "Robbins-Monro, a_k = 1/k", "seeds": 1, "steps": b["steps"], "final w": float(runs["a_k = 1/k"][-1]),
             "|w - w*|": err["a_k = 1/k"]},
            {"experiment": "Robbins-Monro, a_k = 1/k^2", "seeds": 1, "steps": b["steps"],
             "final w": float(runs["a_k = 1/k^2"][-1]), "|w - w*|": err["a_k = 1/k^2"]}]
    for sch, e in noisy_err.items():
        rows.append({"experiment": f"Robbins-Monro, a_k = {sch}, noise std {b['noise']}", "seeds": e.n,
                     "steps": b["noisy_steps"], "final w": float(np.mean([w[-1] for w in noisy[sch]])),
                     "|w - w*|": e.mean, "|w - w*| 95% CI": f"{e.lo:.3g} .. {e.hi:.3g}"})

    rng = np.random.default_rng(ctx.seed)
    x = rng.normal(5.0, 2.0, size=b["samples"])  # E[X] = 5
    inc = incremental_mean(x)
    sample_mean = np.cumsum(x) / np.arange(1, x.size + 1)
    gap = float(np.abs(inc - sample_mean).max())
    sigmas = float(abs(inc[-1] - 5.0) / (2.0 / np.sqrt(x.size)))
    rows.append({"experiment": "incremental mean vs sample mean", "seeds": 1, "steps": x.size, "final w": float(inc[-1]),
                 "|w - w*|": float(abs(inc[-1] - 5.0)), "max |incremental - sample mean|": gap})

    pts = rng.uniform(-10, 10, size=(100, 2))  # the book's example: 100 points in a 20x20 square
    gd = {f"{m} (m={bs})": mean_estimation_gd(pts, m, steps=b["gd_steps"], batch_size=bs, w1=[50.0, 50.0],
                                              seed=ctx.seed)
          for m, bs in (("sgd", 1), ("mbgd", 5), ("mbgd", 50), ("bgd", 100))}
    for k, t in gd.items():
        rows.append({"experiment": f"mean estimation, {k}", "seeds": 1, "steps": b["gd_steps"], "final w": float(t[-1, 0]),
                     "|w - w*|": float(np.linalg.norm(t[-1] - pts.mean(0)))})
    held = rl_sa_rule(err["a_k = 1/k"], err["a_k = 1/k^2"], noisy_err["1/k"], noisy_err["1/k^2"], gap, sigmas)

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
    e1, e2 = noisy_err["1/k"], noisy_err["1/k^2"]
    t1 = e1.describe(what="seeds", digits=4, sign=False)
    t2 = e2.describe(what="seeds", digits=2, sign=False)
    return CardResult(
        table=rows, held=held,
        reason=(f"|w - 1| after {b['steps']} steps: {err['a_k = 1/k']:.1e} with 1/k, {err['a_k = 1/k^2']:.2f} with "
                f"1/k^2; with noise std {b['noise']} after {b['noisy_steps']} steps: {t1} with 1/k (needs < 0.05), "
                f"{t2} with 1/k^2 (needs > 0.1); incremental mean differs from the sample mean by at most "
                f"{gap:.1e} and ends {sigmas:.1f} standard errors from E[X] = 5."),
        effects={"noisy |w - 1|, a_k = 1/k": (e1, t1), "noisy |w - 1|, a_k = 1/k^2": (e2, t2)},
    )
