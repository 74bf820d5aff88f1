"""Reinforcement-learning fundamentals after S. Zhao, *Mathematical Foundations of Reinforcement Learning*.

The book's grid world as a Gymnasium environment (:class:`GridWorld`), its tabular model, and the
algorithms of chapters 2-6: policy evaluation (closed form and iterative), value iteration, policy
iteration, truncated policy iteration, MC Basic, MC Exploring Starts, MC epsilon-greedy, and
stochastic approximation (incremental mean, Robbins-Monro, SGD / mini-batch GD / BGD).

    >>> from danlu.rl import solve
    >>> sol = solve("value_iteration", "book-5x5")
    >>> round(float(sol.values_grid()[0, 0]), 1)       # the book's optimal value of s1
    5.8
"""

from __future__ import annotations

from danlu.rl.dp import (
    backup,
    evaluate_closed_form,
    evaluate_iterative,
    evaluate_policy,
    policy_iteration,
    policy_model,
    truncated_policy_iteration,
    value_iteration,
)
from danlu.rl.env import GridWorld
from danlu.rl.mc import discounted_returns, mc_basic, mc_epsilon_greedy, mc_exploring_starts
from danlu.rl.presets import WORLDS, get_world, list_worlds, random_world
from danlu.rl.sa import STEP_SIZES, incremental_mean, mean_estimation_gd, robbins_monro, step_sizes
from danlu.rl.solution import Solution, as_policy, as_world, epsilon_greedy, greedy_actions
from danlu.rl.solve import ALGORITHMS, list_algorithms, solve
from danlu.rl.world import ACTIONS, WorldSpec

__all__ = [
    "ACTIONS", "ALGORITHMS", "STEP_SIZES", "WORLDS", "GridWorld", "Solution", "WorldSpec", "as_policy", "as_world",
    "backup", "discounted_returns", "epsilon_greedy", "evaluate_closed_form", "evaluate_iterative",
    "evaluate_policy", "get_world", "greedy_actions", "incremental_mean", "list_algorithms", "list_worlds",
    "mc_basic", "mc_epsilon_greedy", "mc_exploring_starts", "mean_estimation_gd", "policy_iteration",
    "policy_model", "random_world", "robbins_monro", "solve", "step_sizes", "truncated_policy_iteration",
    "value_iteration",
]
