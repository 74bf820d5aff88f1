"""rl-mc: Monte Carlo control finds the optimal (or best epsilon-greedy) policy; episode length matters.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 5. MC Basic (Algorithm 5.1)
with long enough episodes returns an optimal policy; with short episodes, states farther from the
target than the episode can reach never see the target and get wrong actions (the book's figure of
MC Basic with episode lengths 1, 2, 3, 4, 14, 15, 30, 100). MC Exploring Starts (Algorithm 5.2)
and MC epsilon-greedy (Algorithm 5.3) get the same number of environment steps (episodes x
length) and several seeds; their references are the optimal policy and the best epsilon-greedy
policy, which DP computes exactly here (policy iteration, over epsilon-greedy policies for the latter).
"""

from __future__ import annotations

import numpy as np

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, Estimate, all_of, decide

ES_MARGIN = 0.95  # mean fraction of states where MC ES's policy reaches v*
EG_MARGIN = 0.2  # max |v - v_best_eps| of MC epsilon-greedy's policy


def rl_mc_rule(basic_long: float, basic_short: float, es_optimal: Estimate, eg_gap: Estimate) -> Decision:
    """Held when all three parts hold:
    (a) MC Basic (deterministic here: one exact episode per (s, a)) reaches v* in every state with the
        longest episodes and misses it in at least one state with the shortest (basic_long == 1,
        basic_short < 1: fractions of states whose value under the returned policy equals v* to 1e-6);
    (b) MC Exploring Starts: over the seeds, the 95% interval of the fraction of states whose value
        under its greedy policy equals v* lies above 0.95 (on average at most about one of the 25
        states wrong);
    (c) MC epsilon-greedy: over the seeds, the 95% interval of max_s |v_pi(s) - v_best(s)|, pi its
        final epsilon-greedy policy and v_best the best epsilon-greedy policy's values (DP), lies
        below 0.2 (about 7% of the range of v_best on the book's world, -0.3 .. 2.4 at eps = 0.5;
        an action that is wrong in one state costs about that much).
    Not held when a part fails (an interval wholly on the wrong side of its margin); inconclusive
    when an interval straddles its margin.
    """
    basic = bool(basic_long == 1.0 and basic_short < 1.0)
    return all_of(basic, decide(es_optimal, ES_MARGIN), decide(eg_gap, EG_MARGIN, higher_is_better=False))


def _mark_wrong(ax, world, wrong: np.ndarray) -> None:
    """Outline in red the cells whose value under the policy is not v*."""
    from matplotlib.patches import Rectangle

    for s in np.flatnonzero(wrong):
        r, c = world.cell(int(s))
        ax.add_patch(Rectangle((c + 0.04, r + 0.04), 0.92, 0.92, fill=False, edgecolor="tab:red", lw=2.2, zorder=4))


@card(
    id="rl-mc",
    title="MC Basic, MC Exploring Starts, MC epsilon-greedy",
    claim=("MC Basic with long episodes and MC Exploring Starts recover the optimal policy, and MC epsilon-greedy "
           "the best epsilon-greedy policy, of the book's 5x5 world, while MC Basic with very short episodes "
           "does not."),
    source="Zhao, Mathematical Foundations of RL, ch. 5 (Monte Carlo methods)",
    area="rl",
    quick={"world": "book-5x5", "lengths": [1, 2, 3, 4, 8, 15, 30, 100], "es_episodes": 10000, "es_length": 30,
           "eg_episodes": 3000, "eg_length": 100, "epsilon": 0.5, "seeds": 5},
    full={"es_episodes": 60000, "eg_episodes": 18000, "seeds": 10},
    rule=rl_mc_rule,
)
def rl_mc(ctx: CardContext) -> CardResult:
    from danlu.lab.evidence import estimate, seeds_for
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
        wrong = np.abs(v - v_star) >= 1e-6
        by_len[L] = (sol, float(1 - wrong.mean()), wrong)
        rows.append({"method": "MC Basic", "episode length": L, "seeds": 1, "steps": sol.info["steps"],
                     "states at v*": float(1 - wrong.mean()), "max |v_pi - v_ref|": float(np.abs(v - v_star).max())})
    seeds = seeds_for(ctx.seed, int(b["seeds"]))
    es_frac, es_gap = [], []
    for s in seeds:
        es = mc_exploring_starts(world, episodes=b["es_episodes"], episode_length=b["es_length"], seed=s)
        v_es = evaluate_closed_form(world, es.policy_actions)
        es_frac.append(float((np.abs(v_es - v_star) < 1e-6).mean()))
        es_gap.append(float(np.abs(v_es - v_star).max()))
    eps = b["epsilon"]
    best_eps = policy_iteration(world, epsilon=eps)
    eg_frac, eg_gap, eg0, v_eg0 = [], [], None, None
    for s in seeds:
        eg = mc_epsilon_greedy(world, episodes=b["eg_episodes"], episode_length=b["eg_length"], epsilon=eps, seed=s)
        v_eg = evaluate_closed_form(world, epsilon_greedy(eg.policy_actions, eps))
        eg_frac.append(float((np.abs(v_eg - best_eps.values) < 1e-6).mean()))
        eg_gap.append(float(np.abs(v_eg - best_eps.values).max()))
        if eg0 is None:
            eg0, v_eg0 = eg, v_eg
    es_est, eg_est = estimate(es_frac), estimate(eg_gap)
    for name, L, eps_n, fr, gp in (("MC Exploring Starts (greedy)", b["es_length"], b["es_episodes"], es_frac, es_gap),
                                   (f"MC eps-greedy (eps={eps})", b["eg_length"], b["eg_episodes"], eg_frac, eg_gap)):
        rows.append({"method": name, "episode length": L, "seeds": len(seeds), "steps": eps_n * L,
                     "states at v*": float(np.mean(fr)), "max |v_pi - v_ref|": float(np.mean(gp)),
                     "per seed: states at v*": " ".join(f"{f:.2f}" for f in fr)})

    longest, shortest = by_len[max(by_len)][1], by_len[min(by_len)][1]
    held = rl_mc_rule(longest, shortest, es_est, eg_est)

    # MC Basic by episode length: the policy (wrong cells outlined in red) above, the estimated values below.
    shown = [L for L in b["lengths"] if L in (1, 3, 4, 15, 100)] or b["lengths"][:4]
    fig, axes = subplots(2, len(shown), width=2.9, height=2.9)
    for j, L in enumerate(shown):
        sol, frac, wrong = by_len[L]
        plot_grid(world, policy=sol.policy, ax=axes[0, j], title=f"length {L}: {frac:.0%} at v*")
        _mark_wrong(axes[0, j], world, wrong)
        plot_grid(world, values=np.round(sol.values, 1) + 0.0, ax=axes[1, j], title=f"estimated values, length {L}")
    ctx.figure("episode-length", fig, caption="MC Basic with different episode lengths: top, the returned policy "
               "(red outline: the state's value under it is not v*); bottom, the values MC Basic estimated.")
    fig, axes = subplots(2, 2, width=3.4, height=3.2)
    plot_grid(world, policy=eg0.policy, ax=axes[0, 0], title=f"MC eps-greedy, eps={eps}, seed {seeds[0]}")
    plot_grid(world, policy=best_eps.policy, ax=axes[0, 1], title="best eps-greedy (DP)")
    plot_grid(world, values=np.round(v_eg0, 1) + 0.0, ax=axes[1, 0], title="its values v_pi")  # + 0.0: no "-0.0"
    plot_grid(world, values=np.round(best_eps.values, 1) + 0.0, ax=axes[1, 1], title="values of the best eps-greedy")
    ctx.figure("epsilon-greedy", fig, caption="MC epsilon-greedy vs the best epsilon-greedy policy computed by DP: "
               "policies (top) and their exact values (bottom).")
    fig, axes = subplots(1, 2, width=4.2, height=3.4)
    ax = axes[0, 0]
    ax.plot(list(by_len), [f for _, f, _ in by_len.values()], marker="o")
    ax.set_xscale("log")
    ax.set(xlabel="episode length", ylabel="fraction of states at v*", title="MC Basic", ylim=(0, 1.05))
    ax = axes[0, 1]
    ax.plot(range(len(seeds)), es_frac, "o", color="tab:blue", label="MC ES, per seed")
    ax.axhspan(es_est.lo, min(es_est.hi, 1.05), color="tab:blue", alpha=0.15, label="MC ES mean, 95% CI")
    ax.axhline(ES_MARGIN, color="k", ls=":", lw=1, label=f"margin {ES_MARGIN}")
    ax.set_xticks(range(len(seeds)), [str(s) for s in seeds])
    ax.set(xlabel="seed", ylabel="fraction of states at v*", ylim=(0, 1.05),
           title=f"MC ES, {b['es_episodes']} episodes x {b['es_length']} steps")
    ax.legend(fontsize=7, loc="lower right")
    ctx.figure("length-curve", fig, caption="Left: short episodes leave states far from the target with wrong "
               "actions. Right: MC Exploring Starts per seed against the 0.95 margin.")
    es_text = es_est.describe(what="seeds", sign=False)
    eg_text = eg_est.describe(what="seeds", digits=3, sign=False)
    return CardResult(
        table=rows, held=held,
        reason=(f"MC Basic: {shortest:.0%} of states at v* with episode length {min(by_len)}, {longest:.0%} at "
                f"{max(by_len)}; MC ES ({b['es_episodes']} episodes of {b['es_length']}): fraction of states at v* "
                f"{es_text} (needs > {ES_MARGIN}); MC eps-greedy (eps={eps}, {b['eg_episodes']} episodes of "
                f"{b['eg_length']}): max gap to the best eps-greedy values {eg_text} (needs < {EG_MARGIN})."),
        effects={"MC ES: fraction of states at v*": (es_est, es_text),
                 "MC eps-greedy: max gap to best eps-greedy": (eg_est, eg_text)},
        notes=("MC ES and MC eps-greedy average every return seen so far (the book's Returns/Num), so returns "
               "collected under early, poor policies keep weighing on q; Sutton & Barto (2018, section 5.3) note "
               "that MC ES's convergence is not proven."),
    )
