"""Grid-world description and its tabular model, following the text of S. Zhao's book.

Source: S. Zhao, *Mathematical Foundations of Reinforcement Learning* (Springer, 2025), chapter 1
("Basic concepts"). The world is a ``rows x cols`` grid; cells are counted from 0 at the top-left,
state index ``s = row * cols + col`` (the book's ``s1, s2, ...`` in row-major order, minus one).

Actions (index: name): 0 up, 1 right, 2 down, 3 left, 4 stay. The model is deterministic:

* an action that would leave the grid keeps the agent in place and gives ``r_boundary``;
* otherwise the agent moves to ``s'``; entering (or staying in) the target gives ``r_target``,
  entering (or staying in) a forbidden cell gives ``r_forbidden`` (forbidden cells are enterable),
  anything else gives ``r_other``;
* the target is not terminal: the task is continuing, discounted by ``gamma`` in ``[0, 1)``.

The full model is ``P`` (S, A, S) transition probabilities and ``R`` (S, A) expected rewards;
algorithms use the equivalent tables ``next_state`` (S, A) and ``reward`` (S, A): the sparse
form of ``P`` (one nonzero per row), 80 bytes per state, where a dense ``P`` of a 100x100 world
would already hold 5e8 entries. Memory is linear in the number of states.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from danlu.errors import DanluError

#: Action names in index order, as in the book: a1 up, a2 right, a3 down, a4 left, a5 stay.
ACTIONS: tuple[str, ...] = ("up", "right", "down", "left", "stay")
#: (d_row, d_col) of each action; rows grow downwards.
MOVES = np.array([(-1, 0), (0, 1), (1, 0), (0, -1), (0, 0)], dtype=np.int64)  # (A, 2)
#: Largest number of entries of a dense ``P`` that :attr:`WorldSpec.P` agrees to build.
MAX_DENSE_P = 50_000_000

_FIELDS = ("rows", "cols", "forbidden", "target", "r_boundary", "r_forbidden", "r_target", "r_other", "gamma")
_OPTIONAL_FIELDS = ("name", "description")


def _cell(value: Any, what: str) -> tuple[int, int]:
    try:
        r, c = value
        if isinstance(r, bool) or isinstance(c, bool) or int(r) != r or int(c) != c:
            raise TypeError
        return int(r), int(c)
    except (TypeError, ValueError):
        raise DanluError(f"{what} must be a [row, col] pair of integers, got {value!r}") from None


@dataclass(frozen=True)
class WorldSpec:
    """An immutable grid world: layout, rewards and discount. See the module docstring.

    Args:
        rows, cols: grid size (>= 1 each).
        forbidden: forbidden cells as ``(row, col)`` pairs, 0-based from the top-left.
        target: the target cell ``(row, col)``; must not be forbidden.
        r_boundary, r_forbidden, r_target, r_other: the rewards (see module docstring).
        gamma: discount rate in ``[0, 1)``.
        name, description: labels (presets fill them; they do not change the model).

    Raises:
        DanluError: an off-grid cell, the target inside a forbidden cell, gamma outside [0, 1),
            a non-finite reward or a bad size; the message names the field and the valid range.
    """

    rows: int
    cols: int
    forbidden: tuple[tuple[int, int], ...]
    target: tuple[int, int]
    r_boundary: float = -1.0
    r_forbidden: float = -1.0
    r_target: float = 1.0
    r_other: float = 0.0
    gamma: float = 0.9
    name: str = "custom"
    description: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        for dim in ("rows", "cols"):
            v = getattr(self, dim)
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise DanluError(f"world {dim} must be a positive integer, got {v!r}")
            object.__setattr__(self, dim, int(v))
        if isinstance(self.forbidden, str | bytes) or not isinstance(self.forbidden, Iterable):
            raise DanluError(f"world forbidden must be a list of [row, col] pairs, got {self.forbidden!r}")
        cells = tuple(sorted({_cell(f, "forbidden cell") for f in self.forbidden}))
        target = _cell(self.target, "target")
        for what, (r, c) in [("target", target)] + [("forbidden cell", x) for x in cells]:
            if not (0 <= r < self.rows and 0 <= c < self.cols):
                raise DanluError(f"{what} [{r}, {c}] is off the {self.rows}x{self.cols} grid; "
                                 f"valid rows 0..{self.rows - 1}, cols 0..{self.cols - 1}")
        if target in cells:
            raise DanluError(f"target [{target[0]}, {target[1]}] is inside a forbidden cell; "
                             "the target must be a free cell")
        object.__setattr__(self, "forbidden", cells)
        object.__setattr__(self, "target", target)
        for key in ("r_boundary", "r_forbidden", "r_target", "r_other", "gamma"):
            v = getattr(self, key)
            if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not np.isfinite(v):
                raise DanluError(f"world {key} must be a finite number, got {v!r}")
            object.__setattr__(self, key, float(v))
        if not 0.0 <= self.gamma < 1.0:
            raise DanluError(f"gamma must be in [0, 1) for this continuing task, got {self.gamma}")

    # ---- geometry -------------------------------------------------------------------------
    @property
    def n_states(self) -> int:
        return self.rows * self.cols

    @property
    def n_actions(self) -> int:
        return len(ACTIONS)

    def state(self, row: int, col: int) -> int:
        """State index of cell ``(row, col)``."""
        return row * self.cols + col

    def cell(self, s: int) -> tuple[int, int]:
        """Cell ``(row, col)`` of state ``s``."""
        return divmod(int(s), self.cols)

    @cached_property
    def target_state(self) -> int:
        return self.state(*self.target)

    @cached_property
    def forbidden_mask(self) -> np.ndarray:
        """(S,) bool, True at forbidden cells."""
        m = np.zeros(self.n_states, dtype=bool)
        for r, c in self.forbidden:
            m[self.state(r, c)] = True
        return m

    # ---- model ----------------------------------------------------------------------------
    @cached_property
    def next_state(self) -> np.ndarray:
        """(S, A) int64: the state reached from ``s`` by action ``a``.

        Built one action at a time, so the temporaries are (S,) vectors: memory stays at the
        table's 40 bytes per state (the sparse form of the (S, A, S) model: one entry per row).
        Stored action-major (the transpose of a C-ordered (A, S) array): each action's column
        is contiguous, which makes a backup ``v[next_state]`` and its max over actions ~3.5x
        faster on a 1000x1000 world than the row-major layout.
        """
        S = self.n_states
        idx = np.arange(S)
        r, c = np.divmod(idx, self.cols)  # (S,), (S,)
        nxt = np.empty((self.n_actions, S), dtype=np.int64)  # (A, S)
        for a, (dr, dc) in enumerate(MOVES.tolist()):
            nr, nc = r + dr, c + dc
            inside = (nr >= 0) & (nr < self.rows) & (nc >= 0) & (nc < self.cols)  # (S,)
            nxt[a] = np.where(inside, nr * self.cols + nc, idx)
        nxt = nxt.T  # (S, A) view
        nxt.setflags(write=False)
        return nxt

    @cached_property
    def reward(self) -> np.ndarray:
        """(S, A) float64: the (deterministic) reward of taking ``a`` in ``s``."""
        nxt = self.next_state
        idx = np.arange(self.n_states)
        r = np.full((self.n_actions, self.n_states), self.r_other)  # (A, S), action-major like next_state
        for a in range(self.n_actions):
            col = nxt[:, a]
            ra = r[a]  # a view: writes go into r
            ra[self.forbidden_mask[col]] = self.r_forbidden
            ra[col == self.target_state] = self.r_target
            if MOVES[a].any():  # a move that leaves the agent in place hit the boundary
                ra[col == idx] = self.r_boundary
        r = r.T  # (S, A) view
        r.setflags(write=False)
        return r

    @property
    def R(self) -> np.ndarray:
        """(S, A) expected immediate reward r(s, a) (equal to :attr:`reward`: the model is deterministic)."""
        return self.reward

    @property
    def P(self) -> np.ndarray:
        """(S, A, S) transition probabilities p(s' | s, a), built on demand (dense, one-hot rows)."""
        S, A = self.n_states, self.n_actions
        if S * A * S > MAX_DENSE_P:
            raise DanluError(f"a dense P for a {self.rows}x{self.cols} world has {S * A * S:,} entries "
                             f"(> {MAX_DENSE_P:,}); use next_state / reward tables instead")
        P = np.zeros((S, A, S))
        P[np.arange(S)[:, None], np.arange(A)[None, :], self.next_state] = 1.0
        return P

    # ---- variants and (de)serialisation ----------------------------------------------------
    def replace(self, **changes: Any) -> WorldSpec:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def affine_rewards(self, a: float, b: float) -> WorldSpec:
        """The world with every reward mapped ``r -> a * r + b`` (the book's chapter 3 example)."""
        return self.replace(r_boundary=a * self.r_boundary + b, r_forbidden=a * self.r_forbidden + b,
                            r_target=a * self.r_target + b, r_other=a * self.r_other + b)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see :meth:`from_dict`)."""
        d = {k: getattr(self, k) for k in _FIELDS + _OPTIONAL_FIELDS}
        d["forbidden"] = [list(c) for c in self.forbidden]
        d["target"] = list(self.target)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, source: str = "world") -> WorldSpec:
        """Build from ``{"rows", "cols", "forbidden": [[r, c], ...], "target": [r, c], "r_boundary",
        "r_forbidden", "r_target", "r_other", "gamma"}`` (rewards and gamma optional, with the book's
        defaults -1, -1, 1, 0, 0.9; ``name`` and ``description`` optional)."""
        if not isinstance(d, Mapping):
            raise DanluError(f"{source}: expected a JSON object with keys {', '.join(_FIELDS)}; "
                             f"got {type(d).__name__}")
        unknown = sorted(set(d) - set(_FIELDS) - set(_OPTIONAL_FIELDS))
        if unknown:
            raise DanluError(f"{source}: unknown key(s) {', '.join(unknown)}; "
                             f"valid: {', '.join(_FIELDS + _OPTIONAL_FIELDS)}")
        missing = [k for k in ("rows", "cols", "target") if k not in d]
        if missing:
            raise DanluError(f"{source}: missing key(s) {', '.join(missing)}")
        kw = dict(d)
        kw.setdefault("forbidden", [])
        kw.setdefault("name", pathlib.Path(source).stem if source != "world" else "custom")
        return cls(**kw)

    @classmethod
    def from_json(cls, path: str | pathlib.Path) -> WorldSpec:
        """Read a world file (JSON, see :meth:`from_dict`). Missing files raise FileNotFoundError."""
        path = pathlib.Path(path)
        text = path.read_text()
        try:
            d = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DanluError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        return cls.from_dict(d, source=str(path))

    def to_json(self, path: str | pathlib.Path) -> None:
        pathlib.Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def render(self, agent: int | None = None) -> str:
        """Text picture: ``T`` target, ``#`` forbidden, ``.`` free, ``A`` the agent."""
        lines = []
        for r in range(self.rows):
            row = []
            for c in range(self.cols):
                s = self.state(r, c)
                ch = "T" if s == self.target_state else "#" if self.forbidden_mask[s] else "."
                row.append("A" if agent == s else ch)
            lines.append(" ".join(row))
        return "\n".join(lines)
