"""Monte Carlo control: MC Basic, MC Exploring Starts, MC epsilon-greedy.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 5 (Algorithms 5.1-5.3).

Speed without per-step Python objects: the world's (S, A) ``next_state`` / ``reward`` tables are
turned into lists of ints once; an episode is a tight loop over ints (exploration decisions and
random actions are drawn up front in numpy), returns ``g_t = r_t + gamma g_{t+1}`` come from one
IIR filter pass (SciPy ``lfilter``), and the return sums are accumulated with ``np.bincount`` over
flat (state, action) indices. MC Basic simulates all (s, a) episodes of an iteration at once as
numpy arrays (the policy is deterministic, so each step is one gather).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from danlu.errors import DanluError
from danlu.rl.dp import keep_history
from danlu.rl.solution import Solution, as_world, epsilon_greedy, greedy_actions, one_hot
from danlu.rl.world import WorldSpec


def discounted_returns(rewards: np.ndarray, gamma: float) -> np.ndarray:
    """(T,) ``g_t = sum_k gamma^k r_{t+k}`` for a reward sequence (T,), in O(T) C code."""
    r = np.asarray(rewards, dtype=np.float64)
    if r.size == 0:
        return r
    try:
        from scipy.signal import lfilter
    except ImportError:  # pragma: no cover - scipy ships with scikit-learn
        g = np.empty_like(r)
        acc = 0.0
        for t in range(r.size - 1, -1, -1):
            acc = r[t] + gamma * acc
            g[t] = acc
        return g
    return lfilter([1.0], [1.0, -gamma], r[::-1])[::-1].copy()


def _check(episodes: int, episode_length: int) -> None:
    if episodes < 1:
        raise DanluError(f"episodes must be >= 1, got {episodes}")
    if episode_length < 1:
        raise DanluError(f"episode length must be >= 1, got {episode_length}")


def mc_basic(world: Any, *, episode_length: int = 100, episodes_per_pair: int = 1, max_iter: int = 100,
             seed: int = 0, keep_values: bool | None = None) -> Solution:
    """MC Basic (book Algorithm 5.1): policy iteration with q_{pi_k}(s, a) estimated by the mean return
    of ``episodes_per_pair`` episodes of length ``episode_length`` from every (s, a), then greedy
    improvement; stops when the greedy policy no longer changes.

    The world and the greedy policy are deterministic, so one episode per pair gives the exact
    truncated return (the book says so too); ``episode_length`` is the knob the book studies: states
    farther than about ``episode_length`` steps from the target cannot see it and get wrong actions.

    History ``"values"`` (K, S) is kept if ``keep_values`` (default: worlds up to
    :data:`danlu.rl.dp.HISTORY_MAX_STATES` states).
    """
    world = as_world(world)
    keep_values = keep_history(world, keep_values)
    _check(episodes_per_pair, episode_length)
    S, A, gamma = world.n_states, world.n_actions, world.gamma
    nxt, rew = world.next_state, world.reward
    s0 = np.repeat(np.arange(S), A)  # (S*A,)
    a0 = np.tile(np.arange(A), S)  # (S*A,)
    pi = np.zeros(S, dtype=np.int64)  # initial policy: "up" everywhere
    hist, iters = [], 0
    for it in range(max_iter):
        s, a = s0.copy(), a0.copy()
        g = np.zeros(S * A)
        disc = 1.0
        for _ in range(episode_length):
            g += disc * rew[s, a]
            s = nxt[s, a]
            a = pi[s]
            disc *= gamma
        q = g.reshape(S, A)
        new = greedy_actions(q, atol=1e-12, prefer=pi)
        if keep_values:
            hist.append(q.max(axis=1))
        iters = it + 1
        stable = bool((new == pi).all())
        pi = new
        if stable and it > 0:
            break
    return Solution(world=world, algo="mc_basic", values=q[np.arange(S), pi], action_values=q,
                    policy=one_hot(pi), iterations=iters, history={"values": np.array(hist)} if keep_values else {},
                    info={"episode_length": episode_length, "steps": iters * S * A * episode_length})


def _rollout(nxt: list[list[int]], greedy: list[int], s: int, a: int, length: int,
             explore: list[bool] | None, rand_a: list[int] | None) -> tuple[list[int], list[int]]:
    """States and actions of one episode: first action ``a``, then greedy (or random where ``explore``)."""
    states = [0] * length
    actions = [0] * length
    if explore is None:
        for t in range(length):
            states[t] = s
            actions[t] = a
            s = nxt[s][a]
            a = greedy[s]
    else:
        for t in range(length):
            states[t] = s
            actions[t] = a
            s = nxt[s][a]
            a = rand_a[t + 1] if explore[t + 1] else greedy[s]
    return states, actions


def _update(world: WorldSpec, states: list[int], actions: list[int], sums: np.ndarray, counts: np.ndarray,
            first_visit: bool) -> np.ndarray:
    """Add this episode's returns to the running sums; returns the flat (s, a) indices touched."""
    s = np.asarray(states, dtype=np.int64)
    a = np.asarray(actions, dtype=np.int64)
    g = discounted_returns(world.reward[s, a], world.gamma)  # (T,)
    idx = s * world.n_actions + a  # (T,)
    if first_visit:
        idx, first = np.unique(idx, return_index=True)
        g = g[first]
    n = sums.shape[0]
    sums += np.bincount(idx, weights=g, minlength=n)
    counts += np.bincount(idx, minlength=n)
    return idx


def _q(sums: np.ndarray, counts: np.ndarray, S: int, A: int) -> np.ndarray:
    return np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0).reshape(S, A)


def _improve(sums: np.ndarray, counts: np.ndarray, states: list[int], pi: np.ndarray, greedy: list[int],
             S: int, A: int) -> int:
    """Policy improvement after one episode: each visited state's greedy action becomes argmax q
    (ties keep the current action). Updates ``pi`` (array) and ``greedy`` (its list mirror used by
    the rollouts) in place; returns how many greedy actions changed."""
    q = _q(sums, counts, S, A)
    visited = np.unique(states)
    new = greedy_actions(q[visited], prefer=pi[visited])
    changed = int((new != pi[visited]).sum())
    pi[visited] = new
    for st, act in zip(visited.tolist(), new.tolist()):
        greedy[st] = act
    return changed


def mc_exploring_starts(world: Any, *, episodes: int = 2000, episode_length: int = 50, first_visit: bool = True,
                        seed: int = 0) -> Solution:
    """MC Exploring Starts (book Algorithm 5.2): each episode starts at a uniformly random (s, a) pair,
    then follows the current greedy policy; q is the mean of the (first- or every-visit) returns so far,
    and the visited states' policy is improved after every episode.

    History: ``"changes"`` (episodes,) how many states changed action after each episode.
    """
    world = as_world(world)
    _check(episodes, episode_length)
    S, A = world.n_states, world.n_actions
    rng = np.random.default_rng(seed)
    nxt = world.next_state.tolist()
    sums, counts = np.zeros(S * A), np.zeros(S * A)
    pi = np.zeros(S, dtype=np.int64)
    greedy = pi.tolist()
    starts = rng.integers(S * A, size=episodes)
    changes = np.zeros(episodes, dtype=np.int64)
    for e in range(episodes):
        s0, a0 = divmod(int(starts[e]), A)
        states, actions = _rollout(nxt, greedy, s0, a0, episode_length, None, None)
        _update(world, states, actions, sums, counts, first_visit)
        changes[e] = _improve(sums, counts, states, pi, greedy, S, A)
    q = _q(sums, counts, S, A)
    return Solution(world=world, algo="mc_es", values=q[np.arange(S), pi], action_values=q, policy=one_hot(pi),
                    iterations=episodes, history={"changes": changes},
                    info={"episode_length": episode_length, "first_visit": first_visit,
                          "steps": episodes * episode_length, "unvisited_pairs": int((counts == 0).sum())})


def mc_epsilon_greedy(world: Any, *, episodes: int = 1, episode_length: int = 100_000, epsilon: float = 0.5,
                      epsilon_decay: float | None = None, epsilon_min: float = 0.0, first_visit: bool = False,
                      seed: int = 0) -> Solution:
    """MC epsilon-greedy (book Algorithm 5.3): episodes from a random (s, a) follow the current
    epsilon-greedy policy; every-visit (default, as in the book) or first-visit mean returns; after
    each episode every visited state's policy becomes epsilon-greedy in the new q.

    Args:
        epsilon: exploration rate in [0, 1]: the greedy action has probability ``1 - eps + eps/|A|``.
        epsilon_decay: if set, multiply epsilon by this factor (in (0, 1]) after every episode,
            never going below ``epsilon_min``.

    q is the mean of every return seen so far (the book's Returns / Num), so returns of older, worse
    policies keep weighing on it: many short episodes from random starts (coverage) converge better
    than a few very long ones, where the agent spends almost all its time near the target.

    The returned ``policy`` is the final epsilon-greedy policy; ``greedy`` is the greedy one.
    History: ``"epsilon"`` (episodes,) and ``"changes"`` (episodes,) greedy actions changed.
    """
    world = as_world(world)
    _check(episodes, episode_length)
    if not 0.0 <= epsilon <= 1.0:
        raise DanluError(f"epsilon must be in [0, 1], got {epsilon}")
    if epsilon_decay is not None and not 0.0 < epsilon_decay <= 1.0:
        raise DanluError(f"epsilon_decay must be in (0, 1], got {epsilon_decay}")
    if not 0.0 <= epsilon_min <= 1.0:
        raise DanluError(f"epsilon_min must be in [0, 1], got {epsilon_min}")

    S, A = world.n_states, world.n_actions
    rng = np.random.default_rng(seed)
    nxt = world.next_state.tolist()
    sums, counts = np.zeros(S * A), np.zeros(S * A)
    pi = np.zeros(S, dtype=np.int64)
    greedy = pi.tolist()
    eps = float(epsilon)
    eps_hist = np.zeros(episodes)
    changes = np.zeros(episodes, dtype=np.int64)
    for e in range(episodes):
        eps_hist[e] = eps
        start = int(rng.integers(S * A))
        explore = (rng.random(episode_length + 1) < eps).tolist()
        rand_a = rng.integers(A, size=episode_length + 1).tolist()
        states, actions = _rollout(nxt, greedy, start // A, start % A, episode_length, explore, rand_a)
        _update(world, states, actions, sums, counts, first_visit)
        changes[e] = _improve(sums, counts, states, pi, greedy, S, A)
        if epsilon_decay is not None:
            eps = max(epsilon_min, eps * epsilon_decay)
    q = _q(sums, counts, S, A)
    return Solution(world=world, algo="mc_egreedy", values=(epsilon_greedy(pi, eps) * q).sum(axis=1),
                    action_values=q, policy=epsilon_greedy(pi, eps), iterations=episodes,
                    history={"epsilon": eps_hist, "changes": changes},
                    info={"episode_length": episode_length, "epsilon": eps, "first_visit": first_visit,
                          "steps": episodes * episode_length, "unvisited_pairs": int((counts == 0).sum())})
