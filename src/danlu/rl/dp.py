"""Model-based solutions: policy evaluation, value iteration, policy iteration, truncated PI.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*: chapter 2 (Bellman equation,
closed form ``v_pi = (I - gamma P_pi)^-1 r_pi`` and the iterative solution
``v_{k+1} = r_pi + gamma P_pi v_k``), chapter 3 (Bellman optimality equation) and chapter 4
(value iteration, policy iteration, truncated policy iteration, Algorithms 4.1-4.3).

Everything is vectorised over states with the deterministic tables of the world: one backup is
``q = R + gamma * v[next_state]`` on an (S, A) array, so a 100x100 world (S = 10,000) takes
microseconds per sweep. The closed form builds ``P_pi`` dense for small worlds and sparse (SciPy)
for large ones, solved directly (LU) up to :data:`DIRECT_SOLVE_MAX_STATES` states and by an
iterative Krylov solver (BiCGSTAB, warm-started, relative residual 1e-12) above, whose memory is
a few vectors of S: LU fill-in of a 2D grid grows faster than S.

Memory is linear in the number of states: the per-iteration value history (K, S) that the
figures use is kept only up to :data:`HISTORY_MAX_STATES` states (``keep_values=None``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from danlu.errors import DanluError
from danlu.rl.solution import Solution, as_policy, as_world, epsilon_greedy, greedy_actions, one_hot
from danlu.rl.world import WorldSpec

#: Above this many states the closed form uses a sparse solve.
DENSE_SOLVE_MAX_STATES = 2500
#: Above this many states the sparse closed form is solved iteratively (memory O(S), not LU fill-in).
DIRECT_SOLVE_MAX_STATES = 40_000
#: Above this many states the (K, S) per-iteration value history is not kept by default.
HISTORY_MAX_STATES = 10_000


def keep_history(world: WorldSpec, keep_values: bool | None) -> bool:
    """``keep_values``, or (None) whether the world is small enough for a (K, S) value history."""
    return world.n_states <= HISTORY_MAX_STATES if keep_values is None else bool(keep_values)


def backup(world: WorldSpec, v: np.ndarray) -> np.ndarray:
    """(S, A) action values ``q(s, a) = r(s, a) + gamma * v(s')`` for state values ``v`` (S,)."""
    q = v[world.next_state]  # (S, A), the one (S, A) array this allocates
    q *= world.gamma
    q += world.reward
    return q


def policy_model(world: WorldSpec, policy: Any) -> tuple[Any, np.ndarray]:
    """``(P_pi, r_pi)``: the (S, S) state transition matrix under ``policy`` (dense ndarray, or a
    SciPy CSR matrix above :data:`DENSE_SOLVE_MAX_STATES` states) and the (S,) expected reward."""
    S = world.n_states
    pi = as_policy(policy, S)
    r_pi = (pi * world.reward).sum(axis=1)  # (S,)
    rows = np.repeat(np.arange(S), world.n_actions)
    cols = world.next_state.ravel()
    if S <= DENSE_SOLVE_MAX_STATES:
        P = np.zeros((S, S))
        np.add.at(P, (rows, cols), pi.ravel())
        return P, r_pi
    from scipy import sparse

    return sparse.csr_matrix((pi.ravel(), (rows, cols)), shape=(S, S)), r_pi


def evaluate_closed_form(world: WorldSpec, policy: Any, *, v0: np.ndarray | None = None) -> np.ndarray:
    """(S,) ``v_pi`` from the linear solve ``(I - gamma P_pi) v = r_pi`` (book eq. 2.11).

    Dense LU up to :data:`DENSE_SOLVE_MAX_STATES` states, sparse LU up to
    :data:`DIRECT_SOLVE_MAX_STATES`, then BiCGSTAB from ``v0`` (a warm start, e.g. the previous
    policy's values) to a relative residual of 1e-12.
    """
    P, r_pi = policy_model(world, policy)
    S = world.n_states
    if isinstance(P, np.ndarray):
        return np.linalg.solve(np.eye(S) - world.gamma * P, r_pi)
    from scipy import sparse

    A = (sparse.identity(S, format="csr") - world.gamma * P).tocsr()
    if S <= DIRECT_SOLVE_MAX_STATES:
        from scipy.sparse.linalg import spsolve

        return spsolve(A.tocsc(), r_pi)
    return _krylov_solve(A, r_pi, v0)


def _krylov_solve(A: Any, b: np.ndarray, x0: np.ndarray | None) -> np.ndarray:
    """``A x = b`` by BiCGSTAB (memory: a few (S,) vectors); raises if it does not converge."""
    from scipy.sparse.linalg import bicgstab

    kw = {"x0": x0, "atol": 0.0, "maxiter": 10_000}
    try:
        x, info = bicgstab(A, b, rtol=1e-12, **kw)
    except TypeError:  # SciPy < 1.12 calls it tol
        x, info = bicgstab(A, b, tol=1e-12, **kw)
    if info != 0:
        raise DanluError(f"the iterative policy evaluation did not converge (BiCGSTAB info={info}) on "
                         f"{A.shape[0]:,} states")
    return x


def evaluate_iterative(world: WorldSpec, policy: Any, *, tol: float = 1e-10, max_iter: int = 100_000,
                       v0: np.ndarray | None = None, sweeps: int | None = None) -> tuple[np.ndarray, list[float]]:
    """``v_{k+1} = r_pi + gamma P_pi v_k`` until ``max|v_{k+1} - v_k| < tol`` (or exactly ``sweeps`` sweeps).

    A deterministic policy given as (S,) actions is swept with one gather per sweep
    (``v_{k+1}(s) = r(s, a_s) + gamma v_k(s')``), no (S, A) arrays.

    Returns:
        ``(v, deltas)``: (S,) values and the max-norm change of each sweep.
    """
    p = np.asarray(policy)
    if p.ndim == 1:
        as_policy(p, world.n_states)  # validates
        idx = np.arange(world.n_states)
        r_pi, nxt = world.reward[idx, p], world.next_state[idx, p]  # (S,), (S,)

        def sweep(v: np.ndarray) -> np.ndarray:
            out = v[nxt]
            out *= world.gamma
            out += r_pi
            return out
    else:
        pi = as_policy(p, world.n_states)

        def sweep(v: np.ndarray) -> np.ndarray:
            q = backup(world, v)
            q *= pi
            return q.sum(axis=1)

    v = np.zeros(world.n_states) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    deltas: list[float] = []
    n = sweeps if sweeps is not None else max_iter
    for _ in range(n):
        v_new = sweep(v)
        deltas.append(float(np.abs(v_new - v).max()))
        v = v_new
        if sweeps is None and deltas[-1] < tol:
            break
    return v, deltas


def _uniform(world: WorldSpec) -> np.ndarray:
    return np.full((world.n_states, world.n_actions), 1.0 / world.n_actions)


def evaluate_policy(world: Any, policy: Any = None, *, method: str = "closed_form", tol: float = 1e-10,
                    max_iter: int = 100_000) -> Solution:
    """Policy evaluation (book chapter 2): state and action values of ``policy``.

    Args:
        world: WorldSpec, GridWorld or preset name.
        policy: (S, A) probabilities or (S,) actions; None means the uniform random policy.
        method: ``"closed_form"`` (linear solve) or ``"iterative"``.
    """
    world = as_world(world)
    pi = _uniform(world) if policy is None else as_policy(policy, world.n_states)
    if method == "closed_form":
        v, deltas, iters = evaluate_closed_form(world, pi), [], 1
    elif method == "iterative":
        v, deltas = evaluate_iterative(world, pi, tol=tol, max_iter=max_iter)
        iters = len(deltas)
    else:
        raise DanluError(f"unknown evaluation method {method!r}; valid: closed_form, iterative")
    return Solution(world=world, algo="evaluate", values=v, action_values=backup(world, v), policy=pi,
                    iterations=iters, history={"delta": np.array(deltas)}, info={"method": method})


def value_iteration(world: Any, *, tol: float = 1e-8, max_iter: int = 100_000, v0: np.ndarray | None = None,
                    keep_values: bool | None = None) -> Solution:
    """Value iteration (book Algorithm 4.1): ``v_{k+1} = max_a [r(s, a) + gamma v_k(s')]`` until
    ``max|v_{k+1} - v_k| < tol``.

    Returns a :class:`Solution` with history ``"delta"`` (K,) and, if ``keep_values`` (default:
    worlds up to :data:`HISTORY_MAX_STATES` states), ``"values"`` (K, S).
    """
    world = as_world(world)
    keep_values = keep_history(world, keep_values)
    v = np.zeros(world.n_states) if v0 is None else np.asarray(v0, dtype=np.float64).copy()
    deltas, hist = [], []
    for _ in range(max_iter):
        v_new = backup(world, v).max(axis=1)  # (S,)
        deltas.append(float(np.abs(v_new - v).max()))
        v = v_new
        if keep_values:
            hist.append(v)
        if deltas[-1] < tol:
            break
    q = backup(world, v)
    history = {"delta": np.array(deltas)}
    if keep_values:
        history["values"] = np.array(hist)
    return Solution(world=world, algo="value_iteration", values=v, action_values=q,
                    policy=one_hot(greedy_actions(q)), iterations=len(deltas), history=history,
                    info={"converged": bool(deltas[-1] < tol), "tol": tol})


def policy_iteration(world: Any, *, policy0: Any = None, tol: float = 1e-10, max_iter: int = 1000,
                     epsilon: float = 0.0, keep_values: bool | None = None) -> Solution:
    """Policy iteration (book Algorithm 4.2): exact evaluation (linear solve), then greedy improvement,
    until the policy is stable (a tie keeps the current action) or the values change less than ``tol``.

    Args:
        policy0: initial deterministic policy, (S,) actions; default "stay" everywhere.
        epsilon: if > 0, search the epsilon-greedy policies instead (evaluate the epsilon-greedy version
            of the current greedy actions, improve to the epsilon-greedy policy of the new q): the
            "optimal epsilon-greedy policy" that the book's MC epsilon-greedy (chapter 5) converges to.
        keep_values: keep the (K, S) value history (default: worlds up to :data:`HISTORY_MAX_STATES`).
    """
    if not 0.0 <= epsilon <= 1.0:
        raise DanluError(f"epsilon must be in [0, 1], got {epsilon}")
    world = as_world(world)
    keep_values = keep_history(world, keep_values)
    S = world.n_states
    a = np.full(S, 4, dtype=np.int64) if policy0 is None else np.asarray(policy0, dtype=np.int64)
    as_policy(a, S)  # validates
    v_prev = None
    hist, deltas = [], []
    def soft(actions: np.ndarray) -> np.ndarray:
        return epsilon_greedy(actions, epsilon) if epsilon > 0 else one_hot(actions)

    for _ in range(max_iter):
        v = evaluate_closed_form(world, soft(a), v0=v_prev)
        if keep_values:
            hist.append(v)
        deltas.append(float("inf") if v_prev is None else float(np.abs(v - v_prev).max()))
        q = backup(world, v)
        new = greedy_actions(q, atol=1e-10 * max(1.0, float(np.abs(q).max())), prefer=a)
        stable = bool((new == a).all()) or deltas[-1] < tol
        a = new
        v_prev = v
        if stable:
            break
    v = evaluate_closed_form(world, soft(a), v0=v_prev)
    q = backup(world, v)
    history = {"delta": np.array(deltas)}
    if keep_values:
        history["values"] = np.array(hist)
    return Solution(world=world, algo="policy_iteration", values=v, action_values=q, policy=soft(a),
                    iterations=len(deltas), history=history, info={"epsilon": epsilon})


def truncated_policy_iteration(world: Any, *, eval_steps: int = 5, tol: float = 1e-8,
                               max_iter: int = 100_000, keep_values: bool | None = None) -> Solution:
    """Truncated policy iteration (book Algorithm 4.3): ``eval_steps`` evaluation sweeps started from
    the previous values, then greedy improvement, until ``max|v_k - v_{k-1}| < tol``.

    ``eval_steps = 1`` is value iteration; ``eval_steps -> infinity`` is policy iteration. The
    (K, S) value history is kept if ``keep_values`` (default: worlds up to :data:`HISTORY_MAX_STATES`).
    """
    world = as_world(world)
    keep_values = keep_history(world, keep_values)
    if eval_steps < 1:
        raise DanluError(f"eval_steps must be >= 1, got {eval_steps}")
    v = np.zeros(world.n_states)
    a = greedy_actions(backup(world, v))
    deltas, hist = [], []
    for _ in range(max_iter):
        v_new, _ = evaluate_iterative(world, a, v0=v, sweeps=eval_steps)
        deltas.append(float(np.abs(v_new - v).max()))
        v = v_new
        if keep_values:
            hist.append(v)
        a = greedy_actions(backup(world, v), prefer=a)
        if deltas[-1] < tol:
            break
    q = backup(world, v)
    history = {"delta": np.array(deltas)}
    if keep_values:
        history["values"] = np.array(hist)
    return Solution(world=world, algo="truncated_pi", values=v, action_values=q, policy=one_hot(a),
                    iterations=len(deltas), history=history, info={"eval_steps": eval_steps})
