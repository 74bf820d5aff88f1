"""rl-grid: the Bellman equation's closed-form and iterative solutions agree (Zhao, chapter 2).

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 2: ``v_pi`` solves
``v = r_pi + gamma P_pi v``; the closed form ``(I - gamma P_pi)^-1 r_pi`` and the iteration
``v_{k+1} = r_pi + gamma P_pi v_k`` give the same values. Measured on the book's 5x5 world for the
optimal policy, the uniform random policy, and seeded random deterministic and random stochastic
policies (``policies`` of each per run, from the runner's seed on).
"""

from __future__ import annotations

import numpy as np

from danlu.lab import CardContext, CardResult, card


def rl_grid_rule(max_gap: float, agree: float = 1e-8) -> bool:
    """Held when the largest max-norm gap between the closed-form values (I - gamma P_pi)^-1 r_pi
    and the iterative solution, over every policy tried, is below `agree` = 1e-8. The margin comes
    from the stopping rule, not from a fit: the iteration stops when a sweep changes v by less than
    tol = 1e-10, which bounds its error by gamma / (1 - gamma) * tol = 9e-10 at gamma = 0.9, and
    float64 rounding of the closed form is ~1e-14, so 1e-8 leaves a 10x margin. Not held when any
    policy's gap reaches 1e-8 (the two solutions disagree). Deterministic: no seeds to average.
    """
    return bool(max_gap < agree)


def _random_policies(world, seed: int, n: int) -> dict[str, np.ndarray]:
    """``n`` random deterministic (S,) and ``n`` random stochastic (S, A) policies from ``seed``."""
    out: dict[str, np.ndarray] = {}
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        out[f"random deterministic #{i + 1}"] = rng.integers(world.n_actions, size=world.n_states)
        out[f"random stochastic #{i + 1}"] = rng.dirichlet(np.ones(world.n_actions), size=world.n_states)
    return out


@card(
    id="rl-grid",
    title="Grid world: Bellman equation, closed form vs iteration",
    claim=("On the book's 5x5 grid world the closed-form state values (I - gamma P_pi)^-1 r_pi and the "
           "iterative solution of the Bellman equation agree, for any policy."),
    source="Zhao, Mathematical Foundations of RL, ch. 2 (state values, Bellman equation)",
    area="rl",
    quick={"world": "book-5x5", "tol": 1e-10, "agree": 1e-8, "policies": 3},
    full={"world": "book-5x5-forbidden10", "policies": 20},
    rule=rl_grid_rule,
)
def rl_grid(ctx: CardContext) -> CardResult:
    from danlu.lab.evidence import estimate
    from danlu.plotting import subplots
    from danlu.rl import evaluate_closed_form, evaluate_iterative, get_world, policy_iteration
    from danlu.rl.plot import plot_grid

    b = ctx.budget
    world = get_world(b["world"])
    policies = {
        "optimal": policy_iteration(world).policy,
        "uniform random": np.full((world.n_states, world.n_actions), 1 / world.n_actions),
        **_random_policies(world, ctx.seed, int(b["policies"])),
    }
    rows, curves, closed = [], {}, {}
    for name, pi in policies.items():
        v_cf = evaluate_closed_form(world, pi)
        v_it, deltas = evaluate_iterative(world, pi, tol=b["tol"])
        # error of each iterate against the closed form, for the convergence figure
        errs, v = [], np.zeros(world.n_states)
        for _ in range(len(deltas)):
            v, _ = evaluate_iterative(world, pi, v0=v, sweeps=1)
            errs.append(float(np.abs(v - v_cf).max()))
        curves[name], closed[name] = errs, v_cf
        rows.append({"policy": name, "iterations": len(deltas), "max |v_cf - v_it|": float(np.abs(v_cf - v_it).max()),
                     "mean v": float(v_cf.mean())})
    gaps = [r["max |v_cf - v_it|"] for r in rows]
    worst = max(gaps)
    held = rl_grid_rule(worst, b["agree"])

    shown = ["optimal", "uniform random", "random deterministic #1"]
    fig, axes = subplots(2, 3, width=3.2, height=3.2)
    for j, name in enumerate(shown):
        plot_grid(world, policy=policies[name], ax=axes[0, j], title=name)
        plot_grid(world, values=np.round(closed[name], 1) + 0.0, ax=axes[1, j], title=f"v_pi, {name}")  # no "-0.0"
    ctx.figure("policies", fig, caption=f"{world.name}: three of the policies (top, arrow length = probability) "
               "and their state values v_pi (bottom).")
    fig, axes = subplots(1, 1, width=6.0, height=3.8)
    ax = axes[0, 0]
    # The error of the first iterates is set by the target cell (its value 1 / (1 - gamma) is the largest
    # for every policy that stays there), so several curves coincide: the optimal one is drawn wide and
    # pale underneath, the others as thinner dashed/dotted lines with markers on top of it.
    styles = [dict(lw=5, alpha=0.35, color="tab:blue", zorder=1), dict(lw=1.4, ls="--", color="tab:orange"),
              dict(lw=1.2, ls=":", color="tab:green", marker="o", markevery=25, ms=4),
              dict(lw=1.2, ls="-.", color="tab:red", marker="s", markevery=(12, 25), ms=4)]
    for i, (name, errs) in enumerate(curves.items()):
        st = styles[i] if i < len(styles) else dict(lw=0.8, alpha=0.6, color="0.5")
        label = name if i < len(styles) else ("other random policies" if i == len(styles) else None)
        ax.semilogy(np.arange(1, len(errs) + 1), np.maximum(errs, 1e-16), label=label, **st)
    ax.set_xlabel("iteration k")
    ax.set_ylabel("max |v_k - v_closed_form|")
    ax.legend(fontsize=7)
    ctx.figure("convergence", fig, caption="Iterative policy evaluation converges geometrically (rate gamma); "
               "curves that coincide (the max error sits at the target cell) are drawn with different styles.")
    gap = estimate(gaps)
    text = f"max {worst:.1e} over {len(gaps)} policies (mean {gap.mean:.1e}; needs < {b['agree']:.0e})"
    return CardResult(
        table=rows, held=held,
        reason=(f"max |closed form - iterative| over {len(rows)} policies = {worst:.1e} "
                f"({'<' if held else '>='} {b['agree']:.0e}); iterations to tol {b['tol']:.0e}: "
                + ", ".join(str(r["iterations"]) for r in rows) + "."),
        extra={"curves": curves},
        effects={"closed form vs iterative gap": (gap, text)},
    )
