"""One entry point over every algorithm: ``solve(algo, world, ...)`` and the ``ALGORITHMS`` registry.

Each entry takes the world plus the common knobs the CLI exposes (``episodes``, ``episode_length``,
``epsilon``, ``seed``) and ignores the ones it does not use; defaults follow the book's examples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.rl import dp, mc
from danlu.rl.solution import Solution, as_world
from danlu.rl.world import WorldSpec

#: name -> fn(world: WorldSpec, **knobs) -> Solution
ALGORITHMS: Registry[Callable[..., Solution]] = Registry("algorithm")

#: The largest world ``danlu rl solve`` takes by default (states); ``--max-states`` raises it.
MAX_STATES = 1_000_000
#: Peak memory per state of the solvers, rounded up from measurements (value iteration ~200 bytes,
#: policy evaluation ~350 bytes on 1000x1000); used for the estimate in the limit's message.
BYTES_PER_STATE = 400


def check_size(world: WorldSpec, max_states: int | None) -> None:
    """Raise a one-line :class:`DanluError` if ``world`` has more than ``max_states`` states (None: no limit)."""
    if max_states is None or world.n_states <= max_states:
        return
    gb = world.n_states * BYTES_PER_STATE / 1e9
    raise DanluError(f"world {world.name!r} has {world.n_states:,} states ({world.rows}x{world.cols}), over the "
                     f"limit of {max_states:,}; it needs about {gb:.1f} GB and minutes to solve: raise the limit "
                     f"(--max-states {world.n_states}) to run it anyway")


#: The most environment steps a Monte Carlo run of ``danlu rl solve`` may simulate by default (MC
#: steps are Python-level: ~20 million take about a minute on one core); ``--max-mc-steps`` raises it.
MAX_MC_STEPS = 20_000_000


def mc_steps(algo: str, world: WorldSpec, *, episodes: int | None = None, episode_length: int | None = None,
             **_: Any) -> int:
    """The environment steps ``algo`` simulates with these knobs (0 for the DP algorithms).

    mc_basic: states x actions x episodes per pair x length for each policy iteration (it stops when
    the policy is stable, usually after a few); mc_es and mc_egreedy: episodes x length, with each
    algorithm's own defaults.
    """
    S, A = world.n_states, world.n_actions
    if algo == "mc_basic":
        return S * A * _opt(episodes, 1) * _opt(episode_length, 100)
    if algo == "mc_es":
        return _opt(episodes, 40 * S * A) * _opt(episode_length, 50)
    if algo == "mc_egreedy":
        return _opt(episodes, 3000) * _opt(episode_length, 100)
    return 0


def check_mc_work(algo: str, world: WorldSpec, max_steps: int | None, **knobs: Any) -> None:
    """Raise a one-line :class:`DanluError` if an MC run would simulate more than ``max_steps`` steps."""
    steps = mc_steps(algo, world, **knobs)
    if max_steps is None or steps <= max_steps:
        return
    raise DanluError(f"{algo} on world {world.name!r} ({world.n_states:,} states) would simulate {steps:,} "
                     f"steps{' per policy iteration' if algo == 'mc_basic' else ''}, over the limit of {max_steps:,} (about a minute per 20 million): lower --episodes or "
                     f"--episode-length, use value_iteration for a large world, or raise --max-mc-steps")


def _opt(v: Any, default: Any) -> Any:
    return default if v is None else v


@ALGORITHMS.register("evaluate")
def _evaluate(world: WorldSpec, *, policy: Any = None, **_: Any) -> Solution:
    return dp.evaluate_policy(world, policy, method="closed_form")


@ALGORITHMS.register("value_iteration")
def _vi(world: WorldSpec, **_: Any) -> Solution:
    return dp.value_iteration(world, tol=1e-8)


@ALGORITHMS.register("policy_iteration")
def _pi(world: WorldSpec, **_: Any) -> Solution:
    return dp.policy_iteration(world)


@ALGORITHMS.register("truncated_pi")
def _tpi(world: WorldSpec, *, eval_steps: int | None = None, **_: Any) -> Solution:
    return dp.truncated_policy_iteration(world, eval_steps=_opt(eval_steps, 5))


@ALGORITHMS.register("mc_basic")
def _mc_basic(world: WorldSpec, *, episodes: int | None = None, episode_length: int | None = None,
              seed: int = 0, **_: Any) -> Solution:
    return mc.mc_basic(world, episode_length=_opt(episode_length, 100), episodes_per_pair=_opt(episodes, 1),
                       seed=seed)


@ALGORITHMS.register("mc_es")
def _mc_es(world: WorldSpec, *, episodes: int | None = None, episode_length: int | None = None,
           seed: int = 0, **_: Any) -> Solution:
    return mc.mc_exploring_starts(world, episodes=_opt(episodes, 40 * world.n_states * world.n_actions),
                                  episode_length=_opt(episode_length, 50), seed=seed)


@ALGORITHMS.register("mc_egreedy")
def _mc_egreedy(world: WorldSpec, *, episodes: int | None = None, episode_length: int | None = None,
                epsilon: float | None = None, epsilon_decay: float | None = None, seed: int = 0,
                **_: Any) -> Solution:
    return mc.mc_epsilon_greedy(world, episodes=_opt(episodes, 3000), episode_length=_opt(episode_length, 100),
                                epsilon=_opt(epsilon, 0.5), epsilon_decay=epsilon_decay, seed=seed)


def list_algorithms() -> list[str]:
    return ALGORITHMS.names()


def solve(algo: str, world: Any, *, gamma: float | None = None, max_states: int | None = None,
          max_mc_steps: int | None = None, **knobs: Any) -> Solution:
    """Run algorithm ``algo`` (see :data:`ALGORITHMS`; unknown names list the valid ones) on ``world``
    (WorldSpec, GridWorld or preset name), optionally with another discount ``gamma``; a world of
    more than ``max_states`` states, or an MC run of more than ``max_mc_steps`` simulated steps, is
    refused (None: no limit; the CLI passes :data:`MAX_STATES` and :data:`MAX_MC_STEPS`)."""
    fn = ALGORITHMS.get(algo)
    spec = as_world(world)
    check_size(spec, max_states)
    if gamma is not None:
        spec = spec.replace(gamma=gamma)
    for k in ("episodes", "episode_length"):
        if knobs.get(k) is not None and knobs[k] < 1:
            raise DanluError(f"{k} must be >= 1, got {knobs[k]}")
    check_mc_work(algo, spec, max_mc_steps, **knobs)
    return fn(spec, **knobs)
