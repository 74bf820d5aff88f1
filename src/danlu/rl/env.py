"""``GridWorld``: the book's grid world as a Gymnasium environment.

S. Zhao, *Mathematical Foundations of Reinforcement Learning*, chapter 1. Observations are state
indices ``Discrete(rows * cols)`` (``s = row * cols + col``), actions ``Discrete(5)`` in the order
up, right, down, left, stay. The target is not terminal (continuing task): ``terminated`` is always
False; ``truncated`` becomes True after ``max_episode_steps`` steps when that is set.

    >>> from danlu.rl import GridWorld
    >>> env = GridWorld.from_preset("book-5x5")
    >>> obs, info = env.reset(seed=0, options={"state": 17})    # s18 in the book: the target
    >>> env.step(4)[:3]                                          # stay at the target
    (17, 1.0, False)
"""

from __future__ import annotations

import pathlib
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

from danlu.errors import DanluError
from danlu.rl.presets import get_world
from danlu.rl.world import ACTIONS, WorldSpec


class GridWorld(gymnasium.Env):
    """The book's grid world (see :mod:`danlu.rl.world` for the rules).

    Args:
        world: a :class:`WorldSpec`, a preset name, or None to build one from ``**spec``.
        start: start cell ``(row, col)``; None draws a uniformly random start at each reset.
            ``reset(options={"state": s})`` overrides it for one episode.
        max_episode_steps: truncate after this many steps (None: never).
        render_mode: None or ``"ansi"`` (``render()`` returns the text grid).
        **spec: WorldSpec fields (``rows``, ``cols``, ``forbidden``, ``target``, rewards, ``gamma``).

    Attributes:
        world: the :class:`WorldSpec`; ``P`` (S, A, S), ``R`` (S, A), ``next_state`` (S, A),
            ``gamma`` are shortcuts to it.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, world: WorldSpec | str | None = None, *, start: tuple[int, int] | None = (0, 0),
                 max_episode_steps: int | None = None, render_mode: str | None = None, **spec: Any) -> None:
        super().__init__()
        if world is None:
            world = WorldSpec(**spec)
        elif isinstance(world, str):
            world = get_world(world, **spec)
        elif spec:
            world = world.replace(**spec)
        if not isinstance(world, WorldSpec):
            raise DanluError(f"world must be a WorldSpec or a preset name, got {type(world).__name__}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise DanluError(f"render_mode {render_mode!r}; valid: None, {', '.join(self.metadata['render_modes'])}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise DanluError(f"max_episode_steps must be positive or None, got {max_episode_steps}")
        self.world = world
        self.render_mode = render_mode
        self.max_episode_steps = max_episode_steps
        self.start = None if start is None else world.state(*self._check_cell(start))
        self.observation_space = spaces.Discrete(world.n_states)
        self.action_space = spaces.Discrete(world.n_actions)
        self._next = world.next_state.tolist()
        self._reward = world.reward.tolist()
        self._state = self.start if self.start is not None else 0
        self._steps = 0

    def _check_cell(self, cell: tuple[int, int]) -> tuple[int, int]:
        r, c = cell
        if not (0 <= r < self.world.rows and 0 <= c < self.world.cols):
            raise DanluError(f"start cell {list(cell)} is off the {self.world.rows}x{self.world.cols} grid")
        return int(r), int(c)

    # ---- constructors ---------------------------------------------------------------------
    @classmethod
    def from_preset(cls, name: str, **kwargs: Any) -> GridWorld:
        """A preset world (see :mod:`danlu.rl.presets`); unknown names list the presets."""
        return cls(get_world(name), **kwargs)

    @classmethod
    def from_file(cls, path: str | pathlib.Path, **kwargs: Any) -> GridWorld:
        """A world from a JSON file (see :meth:`WorldSpec.from_dict`)."""
        return cls(WorldSpec.from_json(path), **kwargs)

    # ---- model shortcuts ------------------------------------------------------------------
    @property
    def P(self) -> np.ndarray:
        return self.world.P

    @property
    def R(self) -> np.ndarray:
        return self.world.R

    @property
    def next_state(self) -> np.ndarray:
        return self.world.next_state

    @property
    def gamma(self) -> float:
        return self.world.gamma

    @property
    def state(self) -> int:
        return self._state

    # ---- gymnasium API --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[int, dict]:
        super().reset(seed=seed)
        options = options or {}
        if "state" in options:
            s = options["state"]
            if isinstance(s, tuple | list):
                s = self.world.state(*self._check_cell(s))
            if not 0 <= int(s) < self.world.n_states:
                raise DanluError(f"reset state {s} is not in 0..{self.world.n_states - 1}")
            self._state = int(s)
        elif self.start is None:
            self._state = int(self.np_random.integers(self.world.n_states))
        else:
            self._state = self.start
        self._steps = 0
        return self._state, {"cell": self.world.cell(self._state)}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        if not self.action_space.contains(action):
            raise DanluError(f"action {action!r} is not in 0..4 ({', '.join(ACTIONS)})")
        a = int(action)
        s = self._state
        reward = float(self._reward[s][a])
        self._state = self._next[s][a]
        self._steps += 1
        truncated = self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        return self._state, reward, False, truncated, {"cell": self.world.cell(self._state)}

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.world.render(agent=self._state)
        return None
