"""What every danlu.rl algorithm returns, and the policy helpers they share.

A policy is an (S, A) matrix of probabilities pi(a | s) (rows sum to 1), as in the book's matrix
form; a deterministic policy is one-hot. :func:`as_policy` also accepts an (S,) array of action
indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from danlu.errors import DanluError
from danlu.rl.world import ACTIONS, WorldSpec


def as_world(world: Any) -> WorldSpec:
    """A :class:`WorldSpec` from a WorldSpec, a :class:`~danlu.rl.GridWorld` or a preset name."""
    if isinstance(world, WorldSpec):
        return world
    if isinstance(world, str):
        from danlu.rl.presets import get_world

        return get_world(world)
    spec = getattr(world, "world", None)
    if isinstance(spec, WorldSpec):
        return spec
    raise DanluError(f"expected a WorldSpec, GridWorld or preset name, got {type(world).__name__}")


def as_policy(policy: Any, n_states: int, n_actions: int = len(ACTIONS)) -> np.ndarray:
    """(S, A) float64 probabilities from an (S, A) matrix or an (S,) array of action indices."""
    p = np.asarray(policy)
    if p.ndim == 1:
        if p.shape[0] != n_states or not np.issubdtype(p.dtype, np.integer) or p.min() < 0 or p.max() >= n_actions:
            raise DanluError(f"a deterministic policy must be ({n_states},) action indices in 0..{n_actions - 1}, "
                             f"got shape {p.shape} dtype {p.dtype}")
        out = np.zeros((n_states, n_actions))
        out[np.arange(n_states), p] = 1.0
        return out
    if p.shape != (n_states, n_actions):
        raise DanluError(f"policy must be ({n_states}, {n_actions}) probabilities or ({n_states},) actions, "
                         f"got shape {p.shape}")
    p = p.astype(np.float64)
    if (p < -1e-12).any() or not np.allclose(p.sum(1), 1.0, atol=1e-8):
        raise DanluError("policy rows must be probabilities (non-negative, summing to 1)")
    return p


def greedy_actions(q: np.ndarray, atol: float = 1e-12, prefer: np.ndarray | None = None) -> np.ndarray:
    """(S,) the first action whose q is within ``atol`` of the row max (ties broken by index).

    With ``prefer`` (S,) the preferred action is kept whenever it is within ``atol`` of the max, so
    policy iteration does not flip between equally good actions on rounding noise.
    """
    best = q.max(axis=1, keepdims=True)  # (S, 1)
    near = q >= best - atol  # (S, A)
    a = near.argmax(axis=1)
    if prefer is not None:
        keep = near[np.arange(q.shape[0]), prefer]
        a = np.where(keep, prefer, a)
    return a


def one_hot(actions: np.ndarray, n_actions: int = len(ACTIONS)) -> np.ndarray:
    out = np.zeros((actions.shape[0], n_actions))
    out[np.arange(actions.shape[0]), actions] = 1.0
    return out


def epsilon_greedy(actions: np.ndarray, epsilon: float, n_actions: int = len(ACTIONS)) -> np.ndarray:
    """(S, A): the book's epsilon-greedy policy, 1 - eps (|A|-1)/|A| on the greedy action, eps/|A| elsewhere."""
    out = np.full((actions.shape[0], n_actions), epsilon / n_actions)
    out[np.arange(actions.shape[0]), actions] += 1.0 - epsilon
    return out


@dataclass
class Solution:
    """Result of a danlu.rl algorithm.

    Attributes:
        world: the world solved.
        algo: the algorithm's registry name.
        values: (S,) state values v(s).
        action_values: (S, A) action values q(s, a).
        policy: (S, A) the final policy pi(a | s) (greedy one-hot, or epsilon-greedy for MC eps-greedy).
        iterations: iterations (DP sweeps, MC Basic policy iterations, or MC episodes).
        history: per-iteration curves for plotting, e.g. ``"delta"`` (K,) max |v_k+1 - v_k| and
            ``"values"`` (K, S) the value estimates.
        info: extra numbers (epsilon used, steps simulated, ...).
    """

    world: WorldSpec
    algo: str
    values: np.ndarray
    action_values: np.ndarray
    policy: np.ndarray
    iterations: int
    history: dict[str, np.ndarray] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def greedy(self) -> np.ndarray:
        """(S,) greedy actions with respect to :attr:`action_values`."""
        return greedy_actions(self.action_values, atol=1e-9)

    @property
    def policy_actions(self) -> np.ndarray:
        """(S,) the most probable action of :attr:`policy`."""
        return self.policy.argmax(axis=1)

    def values_grid(self) -> np.ndarray:
        """(rows, cols) state values."""
        return self.values.reshape(self.world.rows, self.world.cols)

    def policy_names(self) -> list[list[str]]:
        """(rows, cols) the most probable action's name in each cell; equally probable actions are
        joined by ``|`` (the uniform policy reads ``"up|right|down|left|stay"``)."""
        best = self.policy >= self.policy.max(axis=1, keepdims=True) - 1e-9  # (S, A)
        names = ["|".join(ACTIONS[a] for a in np.nonzero(row)[0]) for row in best]
        return [names[r * self.world.cols:(r + 1) * self.world.cols] for r in range(self.world.rows)]

    def to_json(self) -> dict[str, Any]:
        """``{"values": [[...]], "policy": [[action names]], "iterations": n, ...}``."""
        return {"world": self.world.name, "algo": self.algo, "gamma": self.world.gamma,
                "values": self.values_grid().round(6).tolist(), "policy": self.policy_names(),
                "iterations": int(self.iterations),
                **{k: v for k, v in self.info.items() if isinstance(v, int | float | str | bool)}}
