"""rl-grid: the Bellman equation's closed-form and iterative solutions agree (Zhao, chapter 2).

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 2: ``v_pi`` solves
``v = r_pi + gamma P_pi v``; the closed form ``(I - gamma P_pi)^-1 r_pi`` and the iteration
``v_{k+1} = r_pi + gamma P_pi v_k`` give the same values. Measured on the book's 5x5 world for three
policies (the optimal one, the uniform random one, and a seeded random deterministic one).
"""

from __future__ import annotations

import numpy as np

from danlu.lab import CardContext, CardResult, card


@card(
    id="rl-grid",
    title="Grid world: Bellman equation, closed form vs iteration",
    claim=("On the book's 5x5 grid world the closed-form state values (I - gamma P_pi)^-1 r_pi and the "
           "iterative solution of the Bellman equation agree, for any policy."),
    source="Zhao, Mathematical Foundations of RL, ch. 2 (state values, Bellman equation)",
    area="rl",
    quick={"world": "book-5x5", "tol": 1e-10, "agree": 1e-8},
    full={"world": "book-5x5-forbidden10"},
)
def rl_grid(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots
    from danlu.rl import evaluate_closed_form, evaluate_iterative, get_world, policy_iteration
    from danlu.rl.plot import plot_grid

    b = ctx.budget
    world = get_world(b["world"])
    rng = np.random.default_rng(ctx.seed)
    policies = {
        "optimal": policy_iteration(world).policy,
        "uniform random": np.full((world.n_states, world.n_actions), 1 / world.n_actions),
        "random deterministic": rng.integers(world.n_actions, size=world.n_states),
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
    worst = max(r["max |v_cf - v_it|"] for r in rows)
    held = worst < b["agree"]

    fig, axes = subplots(1, 3, width=3.4, height=3.6)
    for ax, (name, pi) in zip(axes[0], policies.items()):
        plot_grid(world, values=closed[name], policy=pi, ax=ax, title=name)
    ctx.figure("policies", fig, caption=f"{world.name}: three policies (arrows) and their state values v_pi.")
    fig, axes = subplots(1, 1)
    for name, errs in curves.items():
        axes[0, 0].semilogy(np.arange(1, len(errs) + 1), np.maximum(errs, 1e-16), label=name)
    axes[0, 0].set_xlabel("iteration k")
    axes[0, 0].set_ylabel("max |v_k - v_closed_form|")
    axes[0, 0].legend()
    ctx.figure("convergence", fig, caption="Iterative policy evaluation converges geometrically (rate gamma).")
    return CardResult(
        table=rows, held=held,
        reason=(f"max |closed form - iterative| over 3 policies = {worst:.1e} "
                f"({'<' if held else '>='} {b['agree']:.0e}); iterations to tol {b['tol']:.0e}: "
                + ", ".join(str(r["iterations"]) for r in rows) + "."),
        extra={"curves": curves},
    )
