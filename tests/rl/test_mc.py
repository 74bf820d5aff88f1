"""Monte Carlo control (book chapter 5): MC Basic, Exploring Starts, epsilon-greedy reach the DP answers."""

from __future__ import annotations

import numpy as np
import pytest

from danlu.errors import DanluError
from danlu.rl import (
    discounted_returns,
    epsilon_greedy,
    evaluate_closed_form,
    get_world,
    mc_basic,
    mc_epsilon_greedy,
    mc_exploring_starts,
    policy_iteration,
    solve,
)


def _optimality_gap(sol) -> float:
    """max_s |v_pi(s) - v*(s)| for the learned greedy policy, v_pi by the exact linear solve."""
    v_star = policy_iteration(sol.world).values
    return float(np.abs(evaluate_closed_form(sol.world, sol.policy_actions) - v_star).max())


def test_discounted_returns_match_the_definition():
    r = np.random.default_rng(0).normal(size=50)
    ref = [sum(0.9**k * r[t + k] for k in range(50 - t)) for t in range(50)]
    np.testing.assert_allclose(discounted_returns(r, 0.9), ref, rtol=1e-12)


@pytest.mark.parametrize("name", ["book-3x3", "book-5x5", "book-5x5-forbidden10"])
def test_mc_basic_reaches_optimal_policy(name):
    sol = mc_basic(name, episode_length=100)
    assert _optimality_gap(sol) < 1e-6
    # with one deterministic episode per pair, q is the truncated return: close to q* at the end
    v_star = policy_iteration(name).values
    np.testing.assert_allclose(sol.values, v_star, atol=0.9**100 * 20)


def test_mc_basic_short_episodes_fail_as_the_book_shows():
    world = get_world("book-5x5")
    v_star = policy_iteration(world).values
    frac = []
    for L in (1, 2, 3, 4, 8, 30):
        v = evaluate_closed_form(world, mc_basic(world, episode_length=L).policy_actions)
        frac.append(float((np.abs(v - v_star) < 1e-6).mean()))
    assert frac[0] < 0.5 and frac[-1] == 1.0
    assert all(a <= b + 1e-12 for a, b in zip(frac, frac[1:])), frac  # longer episodes never hurt here


@pytest.mark.parametrize("name, episodes", [("book-3x3", 2000), ("book-5x5", 20000)])
def test_mc_exploring_starts_reaches_optimal_policy(name, episodes):
    sol = mc_exploring_starts(name, episodes=episodes, episode_length=30, seed=0)
    assert sol.info["unvisited_pairs"] == 0
    assert _optimality_gap(sol) < 1e-6


def test_mc_exploring_starts_every_visit_runs():
    sol = mc_exploring_starts("book-3x3", episodes=3000, episode_length=30, first_visit=False, seed=0)
    assert sol.iterations == 3000 and _optimality_gap(sol) < 1.0


def test_mc_epsilon_greedy_with_decay_reaches_optimal_on_3x3():
    sol = mc_epsilon_greedy("book-3x3", episodes=3000, episode_length=100, epsilon=0.5, epsilon_decay=0.999, seed=0)
    assert sol.info["epsilon"] < 0.03
    assert _optimality_gap(sol) < 1e-6
    np.testing.assert_allclose(sol.policy.sum(1), 1.0)


def test_mc_epsilon_greedy_approaches_best_epsilon_greedy_policy_on_5x5():
    """Fixed epsilon: the learned policy's value is close to the optimal epsilon-greedy policy's (DP)."""
    world = get_world("book-5x5")
    best = policy_iteration(world, epsilon=0.5).values
    sol = mc_epsilon_greedy(world, episodes=3000, episode_length=100, epsilon=0.5, seed=0)
    v = evaluate_closed_form(world, epsilon_greedy(sol.policy_actions, 0.5))
    uniform = evaluate_closed_form(world, np.full((25, 5), 0.2))
    assert np.abs(v - best).max() < 0.2
    assert np.abs(uniform - best).max() > 2.0  # so the check above is not trivially met


def test_mc_epsilon_greedy_million_steps_is_fast():
    import time

    t0 = time.perf_counter()
    sol = mc_epsilon_greedy("book-5x5", episodes=1, episode_length=1_000_000, epsilon=0.5, seed=0)
    assert sol.info["steps"] == 1_000_000
    assert time.perf_counter() - t0 < 10.0


def test_mc_is_seeded():
    a = mc_epsilon_greedy("book-3x3", episodes=50, episode_length=50, seed=3).action_values
    b = mc_epsilon_greedy("book-3x3", episodes=50, episode_length=50, seed=3).action_values
    c = mc_epsilon_greedy("book-3x3", episodes=50, episode_length=50, seed=4).action_values
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_mc_bad_inputs():
    with pytest.raises(DanluError, match="epsilon must be in"):
        mc_epsilon_greedy("book-3x3", epsilon=1.5)
    with pytest.raises(DanluError, match="epsilon_decay"):
        mc_epsilon_greedy("book-3x3", epsilon_decay=0.0)
    with pytest.raises(DanluError, match="episode length"):
        mc_basic("book-3x3", episode_length=0)
    with pytest.raises(DanluError, match="episodes must be"):
        solve("mc_es", "book-3x3", episodes=0)
