"""Preset worlds: the grid worlds of S. Zhao, *Mathematical Foundations of Reinforcement Learning*.

Cells are ``(row, col)`` from 0 at the top-left; the book numbers states ``s1 .. s_n`` row by row,
so the book's ``s_i`` is cell ``divmod(i - 1, cols)``.

=======================  =====================================================================
preset                   what it reproduces
=======================  =====================================================================
``book-2x2``             chapter 2's 2x2 examples (Bellman equation by hand): ``s2`` forbidden,
                         target ``s4``; r_boundary = r_forbidden = -1, r_target = 1, gamma 0.9.
``book-3x3``             chapter 1's 3x3 world (Figure 1.2, used for the basic concepts):
                         ``s6``, ``s7`` forbidden, target ``s9``.
``book-5x5``             the 5x5 world of chapters 2-5 (state values of good/bad policies in
                         chapter 2; optimal policies and values in chapter 3, section 3.5's
                         baseline figure; value/policy iteration in chapter 4; MC Basic with
                         different episode lengths in chapter 5): forbidden ``s7, s8, s13, s17,
                         s19, s22``, target ``s18``; r_boundary = r_forbidden = -1, r_target = 1,
                         gamma 0.9. Its optimal values, rounded to 0.1, are the book's
                         (``5.8 5.6 6.2 6.5 5.8 / ... / 7.2 9.0 10.0 9.0 8.1``; checked in tests).
``book-5x5-forbidden10`` the same world with r_forbidden = -10: chapter 3 section 3.5's figure
                         where the optimal policy avoids every forbidden cell, and chapter 5's
                         MC epsilon-greedy examples.
``open-5x5``             the 5x5 layout with no forbidden cells (a sanity world).
=======================  =====================================================================

:func:`random_world` builds larger seeded worlds (benchmarks use 100x100).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.rl.world import WorldSpec

#: name -> factory returning the preset :class:`WorldSpec`.
WORLDS: Registry[Callable[[], WorldSpec]] = Registry("world preset")

#: The book's 5x5 world: forbidden s7, s8, s13, s17, s19, s22; target s18 (0-based cells below).
BOOK_5X5_FORBIDDEN = ((1, 1), (1, 2), (2, 2), (3, 1), (3, 3), (4, 1))
BOOK_5X5_TARGET = (3, 2)


@WORLDS.register("book-2x2")
def book_2x2() -> WorldSpec:
    return WorldSpec(rows=2, cols=2, forbidden=((0, 1),), target=(1, 1), name="book-2x2",
                     description="Zhao ch. 2 examples: 2x2, s2 forbidden, target s4")


@WORLDS.register("book-3x3")
def book_3x3() -> WorldSpec:
    return WorldSpec(rows=3, cols=3, forbidden=((1, 2), (2, 0)), target=(2, 2), name="book-3x3",
                     description="Zhao ch. 1 (Figure 1.2): 3x3, s6 and s7 forbidden, target s9")


@WORLDS.register("book-5x5")
def book_5x5() -> WorldSpec:
    return WorldSpec(rows=5, cols=5, forbidden=BOOK_5X5_FORBIDDEN, target=BOOK_5X5_TARGET, name="book-5x5",
                     description="Zhao ch. 2-5: 5x5, r_boundary=r_forbidden=-1, r_target=1, gamma=0.9")


@WORLDS.register("book-5x5-forbidden10")
def book_5x5_forbidden10() -> WorldSpec:
    return book_5x5().replace(r_forbidden=-10.0, name="book-5x5-forbidden10",
                              description="Zhao ch. 3 sec. 3.5 / ch. 5: the 5x5 world with r_forbidden=-10")


@WORLDS.register("open-5x5")
def open_5x5() -> WorldSpec:
    return WorldSpec(rows=5, cols=5, forbidden=(), target=BOOK_5X5_TARGET, name="open-5x5",
                     description="5x5, no forbidden cells, target s18")


def list_worlds() -> list[WorldSpec]:
    """Every preset world, sorted by name."""
    return [WORLDS.get(n)() for n in WORLDS.names()]


def get_world(name: str, **overrides: object) -> WorldSpec:
    """The preset ``name`` (unknown names raise, listing the presets), with optional field overrides."""
    spec = WORLDS.get(name)()
    return spec.replace(**overrides) if overrides else spec


def random_world(rows: int, cols: int, *, forbidden_fraction: float = 0.2, seed: int = 0,
                 **rewards: float) -> WorldSpec:
    """A seeded ``rows x cols`` world with about ``forbidden_fraction`` of cells forbidden.

    The target is a random free cell; ``rewards`` may set r_boundary, r_forbidden, r_target, r_other, gamma.
    """
    if not 0.0 <= forbidden_fraction < 1.0:
        raise DanluError(f"forbidden_fraction must be in [0, 1), got {forbidden_fraction}")
    if rows < 1 or cols < 1:
        raise DanluError(f"rows and cols must be positive, got {rows}x{cols}")
    rng = np.random.default_rng(seed)
    n = rows * cols
    k = min(int(round(forbidden_fraction * n)), n - 1)
    cells = rng.permutation(n)
    forbidden = [divmod(int(s), cols) for s in cells[:k]]
    target = divmod(int(cells[k]), cols)
    return WorldSpec(rows=rows, cols=cols, forbidden=forbidden, target=target,
                     name=f"random-{rows}x{cols}-seed{seed}", **rewards)
