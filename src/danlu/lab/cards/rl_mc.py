"""rl-mc: Monte Carlo control finds the optimal (or best epsilon-greedy) policy; episode length matters.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 5. MC Basic (Algorithm 5.1)
with long enough episodes returns an optimal policy; with short episodes, states farther from the
target than the episode can reach never see the target and get wrong actions (the book's figure of
MC Basic with episode lengths 1, 2, 3, 4, 14, 15, 30, 100). MC epsilon-greedy (Algorithm 5.3) with a
fixed epsilon approaches the best epsilon-greedy policy, which DP computes exactly here
(policy iteration over epsilon-greedy policies) as the reference.
"""

from __future__ import annotations

import numpy as np

from danlu.lab import CardContext, CardResult, card


@card(
    id="rl-mc",
    title="MC Basic, MC Exploring Starts, MC epsilon-greedy",
    claim=("MC Basic with long episodes and MC epsilon-greedy recover the optimal and the best epsilon-greedy "
           "policy of the book's 5x5 world, while MC Basic with very short episodes does not."),
    source="Zhao, Mathematical Foundations of RL, ch. 5 (Monte Carlo methods)",
    area="rl",
    quick={"world": "book-5x5", "lengths": [1, 2, 3, 4, 8, 15, 30, 100], "es_episodes": 5000,
           "eg_episodes": 3000, "eg_length": 100, "epsilon": 0.5, "eg_agree": 0.2},
    full={"es_episodes": 30000, "eg_episodes": 20000},
)
def rl_mc(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots
    from danlu.rl import (
        epsilon_greedy,
        evaluate_closed_form,
        get_world,
        mc_basic,
        mc_epsilon_greedy,
        mc_exploring_starts,
        policy_iteration,
    )
    from danlu.rl.plot import plot_grid

    b = ctx.budget
    world = get_world(b["world"])
    v_star = policy_iteration(world).values
    rows, by_len = [], {}
    for L in b["lengths"]:
        sol = mc_basic(world, episode_length=L)
        v = evaluate_closed_form(world, sol.policy_actions)
        frac = float((np.abs(v - v_star) < 1e-6).mean())
        by_len[L] = (sol, frac)
        rows.append({"method": "MC Basic", "episode length": L, "episodes": world.n_states * world.n_actions,
                     "states with optimal action": frac, "max |v_pi - v*|": float(np.abs(v - v_star).max())})
    es = mc_exploring_starts(world, episodes=b["es_episodes"], episode_length=30, seed=ctx.seed)
    v_es = evaluate_closed_form(world, es.policy_actions)
    rows.append({"method": "MC Exploring Starts", "episode length": 30, "episodes": b["es_episodes"],
                 "states with optimal action": float((np.abs(v_es - v_star) < 1e-6).mean()),
                 "max |v_pi - v*|": float(np.abs(v_es - v_star).max())})
    eps = b["epsilon"]
    best_eps = policy_iteration(world, epsilon=eps)
    eg = mc_epsilon_greedy(world, episodes=b["eg_episodes"], episode_length=b["eg_length"], epsilon=eps, seed=ctx.seed)
    v_eg = evaluate_closed_form(world, epsilon_greedy(eg.policy_actions, eps))
    eg_gap = float(np.abs(v_eg - best_eps.values).max())
    rows.append({"method": f"MC eps-greedy (eps={eps})", "episode length": b["eg_length"], "episodes": b["eg_episodes"],
                 "states with optimal action": float((np.abs(v_eg - best_eps.values) < 1e-6).mean()),
                 "max |v_pi - v*|": eg_gap})

    longest, shortest = by_len[max(by_len)][1], by_len[min(by_len)][1]
    held = longest == 1.0 and shortest < 1.0 and eg_gap < b["eg_agree"]

    shown = [L for L in b["lengths"] if L in (1, 3, 4, 15, 100)] or b["lengths"][:4]
    fig, axes = subplots(1, len(shown), width=3.0, height=3.2)
    for ax, L in zip(axes[0], shown):
        sol, frac = by_len[L]
        plot_grid(world, values=sol.values, policy=sol.policy, ax=ax, title=f"length {L}: {frac:.0%} optimal")
    ctx.figure("episode-length", fig, caption="MC Basic with different episode lengths (policy and estimated values).")
    fig, axes = subplots(1, 2, width=3.6, height=3.8)
    plot_grid(world, values=v_eg, policy=eg.policy, ax=axes[0, 0], title=f"MC eps-greedy, eps={eps}")
    plot_grid(world, values=best_eps.values, policy=best_eps.policy, ax=axes[0, 1], title="best eps-greedy (DP)")
    ctx.figure("epsilon-greedy", fig, caption="MC epsilon-greedy vs the best epsilon-greedy policy computed by DP.")
    fig, axes = subplots(1, 1)
    axes[0, 0].plot(list(by_len), [f for _, f in by_len.values()], marker="o")
    axes[0, 0].set_xscale("log")
    axes[0, 0].set_xlabel("episode length")
    axes[0, 0].set_ylabel("fraction of states with an optimal action")
    ctx.figure("length-curve", fig, caption="Short episodes leave states far from the target with wrong actions.")
    return CardResult(
        table=rows, held=held,
        reason=(f"MC Basic: {shortest:.0%} of states optimal at episode length {min(by_len)}, {longest:.0%} at "
                f"{max(by_len)}; MC ES ({b['es_episodes']} episodes) max gap {rows[-2]['max |v_pi - v*|']:.2g}; "
                f"MC eps-greedy (eps={eps}) is within {eg_gap:.3f} of the best eps-greedy policy's values "
                f"(threshold {b['eg_agree']})."),
    )
