"""MC epsilon-greedy speed: danlu (int tables, batched sampling, one-pass returns) vs a Gymnasium loop.

Target (issue 9): MC epsilon-greedy with 1e6 steps in seconds on CPU. The peer simulates the same
algorithm the usual way: ``env.step`` on the Gymnasium environment each step, a Python list of
(s, a, r) tuples, a backward loop for the returns and dict-of-lists averaging (book Algorithm 5.3).

    OMP_NUM_THREADS=1 python benchmarks/rl_mc.py [--steps 1000000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from danlu.rl import GridWorld, mc_epsilon_greedy


def gym_loop_mc_egreedy(steps: int, epsilon: float = 0.5, seed: int = 0) -> np.ndarray:
    env = GridWorld.from_preset("book-5x5")
    rng = np.random.default_rng(seed)
    S, A, g = env.world.n_states, 5, env.gamma
    q = np.zeros((S, A))
    returns: dict[tuple[int, int], list[float]] = {}
    greedy = np.zeros(S, dtype=int)
    s, _ = env.reset(seed=seed, options={"state": int(rng.integers(S))})
    episode = []
    a = int(rng.integers(A))
    for _ in range(steps):
        s2, r, _, _, _ = env.step(a)
        episode.append((s, a, r))
        s = s2
        a = int(rng.integers(A)) if rng.random() < epsilon else int(greedy[s])
    ret = 0.0
    for s, a, r in reversed(episode):
        ret = r + g * ret
        returns.setdefault((s, a), []).append(ret)
    for (s, a), rs in returns.items():
        q[s, a] = sum(rs) / len(rs)
    return q


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=1_000_000)
    args = p.parse_args()
    mc_epsilon_greedy("book-5x5", episodes=1, episode_length=1000, seed=0)  # warm-up: lazy SciPy import
    t_d = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        sol = mc_epsilon_greedy("book-5x5", episodes=1, episode_length=args.steps, epsilon=0.5, seed=0)
        t_d = min(t_d, time.perf_counter() - t0)
    t0 = time.perf_counter()
    q_peer = gym_loop_mc_egreedy(args.steps)
    t_p = time.perf_counter() - t0
    # same algorithm, different random streams: q estimates agree up to MC noise on rarely visited pairs
    dq = float(np.abs(q_peer - sol.action_values).max())
    print(f"{'steps':>9} {'danlu s':>8} {'gym-loop s':>10} {'gym/danlu':>9} {'danlu Msteps/s':>14} {'max|dq|':>8}")
    print(f"{args.steps:>9} {t_d:>8.2f} {t_p:>10.2f} {t_p / t_d:>9.1f} {args.steps / t_d / 1e6:>14.2f} {dq:>8.2f}")


if __name__ == "__main__":
    main()
