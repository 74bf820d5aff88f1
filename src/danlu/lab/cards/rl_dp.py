"""rl-dp: value iteration, policy iteration and truncated PI reach the same optimal values (Zhao, ch. 4).

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 4 (Algorithms 4.1-4.3). All
three solve the Bellman optimality equation; the card compares their final values and the exact
value of their greedy policies against each other, and draws ``||v_k - v*||`` per iteration (the
book's figure comparing truncated PI with VI and PI).
"""

from __future__ import annotations

import numpy as np

from danlu.lab import CardContext, CardResult, card


def rl_dp_rule(worst_gap: float, agree: float = 1e-7) -> bool:
    """Held when, on every world and for every algorithm (value iteration, policy iteration, truncated
    PI with each j), both the final values and the exact value of the greedy policy are within
    `agree` = 1e-7 (max norm) of policy iteration's v*. The margin comes from the stopping rules:
    VI and truncated PI stop when a sweep changes v by less than tol = 1e-10, which bounds their
    value error by gamma / (1 - gamma) * tol ~ 1e-9 at gamma = 0.9 (1e-7 leaves 100x), and a greedy
    policy is either optimal (gap ~1e-14) or off by a whole reward step (~0.1 or more). Not held
    when any gap reaches 1e-7. Deterministic: no seeds to average (the random world is seeded).
    """
    return bool(worst_gap < agree)


@card(
    id="rl-dp",
    title="Value iteration, policy iteration, truncated PI",
    claim=("Value iteration, policy iteration and truncated policy iteration reach the same optimal state "
           "values and equally good greedy policies on the book's grid worlds."),
    source="Zhao, Mathematical Foundations of RL, ch. 4 (value and policy iteration)",
    area="rl",
    quick={"worlds": ["book-5x5", "book-5x5-forbidden10", "random-12x12"], "tol": 1e-10, "agree": 1e-7,
           "eval_steps": [3, 10]},
    full={"worlds": ["book-5x5", "book-5x5-forbidden10", "random-12x12", "random-30x30"], "eval_steps": [2, 5, 20, 60]},
    rule=rl_dp_rule,
)
def rl_dp(ctx: CardContext) -> CardResult:
    from danlu.lab.evidence import estimate
    from danlu.plotting import subplots
    from danlu.rl import (
        evaluate_closed_form,
        get_world,
        policy_iteration,
        random_world,
        truncated_policy_iteration,
        value_iteration,
    )
    from danlu.rl.plot import plot_grid

    b = ctx.budget
    rows, worst, curves = [], 0.0, {}
    for wname in b["worlds"]:
        if wname.startswith("random-"):
            r, c = (int(x) for x in wname.split("-")[1].split("x"))
            world = random_world(r, c, seed=ctx.seed)
        else:
            world = get_world(wname)
        ref = policy_iteration(world)
        sols = {"value iteration": value_iteration(world, tol=b["tol"]), "policy iteration": ref}
        for j in b["eval_steps"]:
            sols[f"truncated PI (j={j})"] = truncated_policy_iteration(world, eval_steps=j, tol=b["tol"])
        for name, sol in sols.items():
            dv = float(np.abs(sol.values - ref.values).max())
            dpol = float(np.abs(evaluate_closed_form(world, sol.policy_actions) - ref.values).max())
            worst = max(worst, dv, dpol)
            rows.append({"world": wname, "algorithm": name, "iterations": sol.iterations,
                         "max |v - v_PI|": dv, "greedy policy gap": dpol})
            if wname == b["worlds"][0]:
                hist = sol.history["values"]
                curves[name] = np.abs(hist - ref.values).max(axis=1).tolist()
        if wname == b["worlds"][0]:
            fig, axes = subplots(1, 1, width=4.2, height=4.0)
            plot_grid(world, values=ref.values, policy=ref.policy, ax=axes[0, 0],
                      title=f"optimal policy and values, {wname}")
            ctx.figure("optimal", fig, caption="Optimal policy and state values (compare with the book's chapter 3 figure).")
    held = rl_dp_rule(worst, b["agree"])
    fig, axes = subplots(1, 1, width=5.5)
    for name, c in curves.items():
        axes[0, 0].semilogy(np.arange(1, len(c) + 1), np.maximum(c, 1e-16), label=name, marker="." if len(c) < 30 else None)
    axes[0, 0].set_xlabel("iteration k")
    axes[0, 0].set_ylabel("max |v_k - v*|")
    axes[0, 0].legend(fontsize=7)
    ctx.figure("convergence", fig, caption=f"Convergence on {b['worlds'][0]}: PI needs fewest iterations, VI most.")
    gaps = [max(r["max |v - v_PI|"], r["greedy policy gap"]) for r in rows]
    gap = estimate(gaps)
    return CardResult(
        table=rows, held=held,
        effects={"gap to policy iteration's v*": (gap, f"max {worst:.1e} over {len(rows)} runs "
                                                       f"(needs < {b['agree']:.0e})")},
        reason=(f"over {len(rows)} runs the largest gap to policy iteration's v* (values or greedy-policy value) "
                f"is {worst:.1e} ({'<' if held else '>='} {b['agree']:.0e}); iterations on {b['worlds'][0]}: "
                + ", ".join(f"{r['algorithm']} {r['iterations']}" for r in rows if r["world"] == b["worlds"][0]) + "."),
        extra={"curves": curves},
    )
