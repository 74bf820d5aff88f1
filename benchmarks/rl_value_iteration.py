"""Value iteration speed: danlu's vectorised tables vs a per-state Python loop and a dense-P einsum.

Target (issue 9): value iteration on a 100x100 world to 1e-8 in under a second on CPU.
Peers, on the same worlds and stopping rule (max |v_k+1 - v_k| < 1e-8):
  * python-loop: the textbook double loop over states and actions (what most course code does);
  * dense-P: q = R + gamma * P @ v with the (S, A, S) array (only where P fits in memory).

    OMP_NUM_THREADS=1 python benchmarks/rl_value_iteration.py [--sizes 10 20 50 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from danlu.rl import random_world, value_iteration


def python_loop_vi(world, tol: float = 1e-8) -> tuple[np.ndarray, int]:
    nxt, rew, g = world.next_state.tolist(), world.reward.tolist(), world.gamma
    v = [0.0] * world.n_states
    it = 0
    while True:
        it += 1
        new = [max(rew[s][a] + g * v[nxt[s][a]] for a in range(5)) for s in range(world.n_states)]
        delta = max(abs(x - y) for x, y in zip(new, v))
        v = new
        if delta < tol:
            return np.array(v), it


def dense_vi(world, tol: float = 1e-8) -> tuple[np.ndarray, int]:
    P, R, g = world.P, world.R, world.gamma
    v = np.zeros(world.n_states)
    it = 0
    while True:
        it += 1
        new = (R + g * np.einsum("sat,t->sa", P, v)).max(1)
        delta = np.abs(new - v).max()
        v = new
        if delta < tol:
            return v, it


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 50, 100])
    p.add_argument("--loop-max", type=int, default=100, help="largest side for the python-loop peer")
    args = p.parse_args()
    print(f"{'world':>10} {'S':>6} {'iters':>6} {'danlu s':>9} {'loop s':>9} {'loop/danlu':>10} {'denseP s':>9} "
          f"{'dense/danlu':>11} {'max|dv|':>8}")
    for n in args.sizes:
        world = random_world(n, n, seed=0)
        t_d, sol = best_of(lambda w=world: value_iteration(w, tol=1e-8, keep_values=False), 5)
        row = f"{n:>4}x{n:<5} {world.n_states:>6} {sol.iterations:>6} {t_d:>9.4f}"
        dv = 0.0
        if n <= args.loop_max:
            t_l, (v_l, it_l) = best_of(lambda w=world: python_loop_vi(w), 1)
            assert it_l == sol.iterations
            dv = max(dv, float(np.abs(v_l - sol.values).max()))
            row += f" {t_l:>9.3f} {t_l / t_d:>10.1f}"
        else:
            row += f" {'-':>9} {'-':>10}"
        if world.n_states <= 2500:
            t_p, (v_p, _) = best_of(lambda w=world: dense_vi(w), 1)
            dv = max(dv, float(np.abs(v_p - sol.values).max()))
            row += f" {t_p:>9.3f} {t_p / t_d:>11.1f}"
        else:
            row += f" {'-':>9} {'-':>11}"
        print(row + f" {dv:>8.1e}")


if __name__ == "__main__":
    main()
