"""Bellman equation and dynamic programming against closed forms and the book's printed numbers."""

from __future__ import annotations

import numpy as np
import pytest

from danlu.errors import DanluError, UnknownNameError
from danlu.rl import (
    evaluate_closed_form,
    evaluate_iterative,
    evaluate_policy,
    get_world,
    policy_iteration,
    random_world,
    solve,
    truncated_policy_iteration,
    value_iteration,
)

MOVES = {0: (-1, 0), 1: (0, 1), 2: (1, 0), 3: (0, -1), 4: (0, 0)}


def _independent_bellman(world, pi):
    """(I - gamma P_pi)^-1 r_pi with P_pi and r_pi assembled cell by cell from the book's rules."""
    S = world.rows * world.cols
    P, r = np.zeros((S, S)), np.zeros(S)
    for s in range(S):
        row, col = divmod(s, world.cols)
        for a, (dr, dc) in MOVES.items():
            nr, nc = row + dr, col + dc
            if 0 <= nr < world.rows and 0 <= nc < world.cols:
                s2 = nr * world.cols + nc
                rew = (world.r_target if (nr, nc) == world.target
                       else world.r_forbidden if (nr, nc) in world.forbidden else world.r_other)
            else:
                s2, rew = s, world.r_boundary
            P[s, s2] += pi[s, a]
            r[s] += pi[s, a] * rew
    return np.linalg.inv(np.eye(S) - world.gamma * P) @ r


WORLDS = ["book-2x2", "book-3x3", "book-5x5", "book-5x5-forbidden10", "random"]


def _world(name):
    return random_world(6, 8, seed=1, forbidden_fraction=0.25, gamma=0.8) if name == "random" else get_world(name)


@pytest.mark.parametrize("name", WORLDS)
def test_bellman_solution_equals_independent_inverse(name):
    world = _world(name)
    pi = np.random.default_rng(0).dirichlet(np.ones(5), size=world.n_states)  # a random stochastic policy
    ref = _independent_bellman(world, pi)
    np.testing.assert_allclose(evaluate_closed_form(world, pi), ref, atol=1e-10)
    v_it, deltas = evaluate_iterative(world, pi, tol=1e-12)
    np.testing.assert_allclose(v_it, ref, atol=1e-10)
    assert deltas[-1] < 1e-12
    sol = evaluate_policy(world, pi, method="iterative", tol=1e-12)
    # the Bellman equation itself: v = r_pi + gamma P_pi v, and v(s) = sum_a pi(a|s) q(s, a)
    np.testing.assert_allclose((pi * sol.action_values).sum(1), sol.values, atol=1e-9)


def test_book_chapter2_2x2_example():
    """Book chapter 2: in the 2x2 world, s1 -> down, s2 -> down, s3 -> right, s4 stays: v = (9, 10, 10, 10)."""
    v = evaluate_closed_form(get_world("book-2x2"), np.array([2, 2, 1, 4]))
    np.testing.assert_allclose(v, [9.0, 10.0, 10.0, 10.0], atol=1e-12)


def test_book_5x5_optimal_values_match_the_printed_figure():
    """Book chapter 3 (section 3.5 baseline figure): optimal state values of the 5x5 world, rounded to 0.1."""
    book = np.array([[5.8, 5.6, 6.2, 6.5, 5.8],
                     [6.5, 7.2, 8.0, 7.2, 6.5],
                     [7.2, 8.0, 10.0, 8.0, 7.2],
                     [8.0, 10.0, 10.0, 10.0, 8.0],
                     [7.2, 9.0, 10.0, 9.0, 8.1]])
    v = value_iteration("book-5x5").values_grid()
    np.testing.assert_allclose(np.round(v, 1), book)


@pytest.mark.parametrize("name", WORLDS + ["random-big"])
def test_value_and_policy_iteration_agree(name):
    world = random_world(20, 30, seed=2) if name == "random-big" else _world(name)
    vi = value_iteration(world, tol=1e-12)
    pi = policy_iteration(world)
    tpi = truncated_policy_iteration(world, eval_steps=3, tol=1e-12)
    np.testing.assert_allclose(vi.values, pi.values, atol=1e-8, rtol=0)
    np.testing.assert_allclose(tpi.values, pi.values, atol=1e-8, rtol=0)
    # each greedy policy is optimal: its exact value equals v*
    for sol in (vi, pi, tpi):
        np.testing.assert_allclose(evaluate_closed_form(world, sol.policy_actions), pi.values, atol=1e-8)
    # v* satisfies the Bellman optimality equation
    np.testing.assert_allclose(pi.action_values.max(1), pi.values, atol=1e-9)


@pytest.mark.parametrize("a, b", [(2.0, 0.0), (0.5, 3.0), (3.0, -1.0)])
def test_optimal_policy_invariant_to_affine_reward_change(a, b):
    """Book chapter 3: r -> a r + b (a > 0) keeps the optimal policies; v' = a v* + b / (1 - gamma)."""
    for name in ("book-5x5", "book-5x5-forbidden10"):
        world = get_world(name)
        base = policy_iteration(world)
        moved = policy_iteration(world.affine_rewards(a, b))
        np.testing.assert_allclose(moved.values, a * base.values + b / (1 - world.gamma), atol=1e-8)
        # the sets of optimal actions (within tolerance) are identical, so the same greedy choice
        opt = lambda q: np.isclose(q, q.max(1, keepdims=True), atol=1e-7)  # noqa: E731
        np.testing.assert_array_equal(opt(base.action_values), opt(moved.action_values))
        np.testing.assert_array_equal(base.policy_actions, moved.policy_actions)


def test_gamma_changes_the_optimal_policy():
    """Book chapter 3: with gamma = 0 the agent is short-sighted; values are the best immediate rewards."""
    sol = solve("value_iteration", "book-5x5", gamma=0.0)
    np.testing.assert_allclose(sol.values, get_world("book-5x5").reward.max(1))


def test_truncated_pi_sits_between_vi_and_pi():
    world = get_world("book-5x5")
    its = [truncated_policy_iteration(world, eval_steps=j, tol=1e-8).iterations for j in (1, 5, 50)]
    assert its[0] > its[1] > its[2]
    assert policy_iteration(world).iterations <= its[2]


def test_epsilon_greedy_policy_iteration_is_best_epsilon_greedy():
    world = get_world("book-5x5")
    eps = policy_iteration(world, epsilon=0.2)
    from danlu.rl import epsilon_greedy

    rng = np.random.default_rng(0)
    for _ in range(20):  # no random deterministic-core epsilon-greedy policy beats it anywhere
        other = epsilon_greedy(rng.integers(5, size=world.n_states), 0.2)
        assert (evaluate_closed_form(world, other) <= eps.values + 1e-9).all()


def test_large_world_uses_sparse_closed_form():
    world = random_world(60, 60, seed=0)
    a = value_iteration(world, tol=1e-10)
    np.testing.assert_allclose(evaluate_closed_form(world, a.policy_actions), a.values, atol=1e-8)


def test_bad_inputs():
    with pytest.raises(UnknownNameError, match="valid: evaluate, mc_basic"):
        solve("q_learning", "book-5x5")
    with pytest.raises(DanluError, match="valid: closed_form, iterative"):
        evaluate_policy("book-5x5", method="magic")
    with pytest.raises(DanluError, match="policy must be"):
        evaluate_policy("book-5x5", np.ones((3, 5)) / 5)
    with pytest.raises(DanluError, match="gamma"):
        solve("value_iteration", "book-5x5", gamma=1.0)
    with pytest.raises(DanluError, match="eval_steps"):
        truncated_policy_iteration("book-5x5", eval_steps=0)
