"""Grid-world figures in the style of S. Zhao's book: forbidden cells shaded orange, the target
blue, policy arrows (length ~ probability; a circle for "stay") and the state values per cell."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from danlu.rl.solution import Solution, as_policy
from danlu.rl.world import MOVES, WorldSpec

FORBIDDEN_COLOR = "#f4b183"
TARGET_COLOR = "#8fd3f4"
#: Above this many cells a panel is drawn as images (cell kinds, values, the policy's action per cell)
#: instead of one patch, arrow and label per cell, and figures stop growing with the grid.
IMAGE_CELLS = 2500
#: Largest side of one panel, in inches.
MAX_PANEL_INCHES = 10.0
#: Colours of the policy image (up, right, down, left, stay).
ACTION_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#666666")


def _cell_inches(world: WorldSpec) -> float:
    """Inches per cell: 0.7 as in the book's figures, less for big grids (a panel stays <= 10 in)."""
    return min(0.7, MAX_PANEL_INCHES / max(world.rows, world.cols))


def _kinds_image(world: WorldSpec) -> np.ndarray:
    """(rows, cols, 3) RGB: white, the forbidden colour, the target colour."""
    from matplotlib.colors import to_rgb

    img = np.ones((world.n_states, 3))
    img[world.forbidden_mask] = to_rgb(FORBIDDEN_COLOR)
    img[world.target_state] = to_rgb(TARGET_COLOR)
    return img.reshape(world.rows, world.cols, 3)


def _plot_big(world: WorldSpec, values: np.ndarray | None, pi: np.ndarray | None, ax: Any) -> None:
    """Images for a big grid: the values (with a colour bar), else the policy's most probable
    action per cell (legend), over the cell kinds."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    from danlu.rl.world import ACTIONS

    extent = (0, world.cols, world.rows, 0)
    ax.imshow(_kinds_image(world), extent=extent, interpolation="nearest", zorder=0)
    if values is not None:
        im = ax.imshow(np.asarray(values).reshape(world.rows, world.cols), extent=extent, cmap="viridis",
                       interpolation="nearest", alpha=0.85, zorder=1)
        ax.figure.colorbar(im, ax=ax, shrink=0.8, label="state value")
    elif pi is not None:
        best = pi.argmax(axis=1).reshape(world.rows, world.cols)
        ax.imshow(best, extent=extent, cmap=ListedColormap(ACTION_COLORS), vmin=-0.5, vmax=4.5,
                  interpolation="nearest", alpha=0.85, zorder=1)
        ax.legend(handles=[Patch(color=c, label=a) for a, c in zip(ACTIONS, ACTION_COLORS, strict=True)],
                  fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="action", title_fontsize=7)


def plot_grid(world: WorldSpec, *, values: np.ndarray | None = None, policy: Any = None, ax: Any = None,
              title: str = "", fmt: str = "{:.1f}") -> Any:
    """Draw ``world`` on ``ax`` (a new figure if None) with optional (S,) ``values`` and a policy
    ((S, A) probabilities or (S,) actions). Returns the axes.

    Up to :data:`IMAGE_CELLS` cells: the book's style (a patch per cell, arrows, numbers). Above:
    images (values as a colour map, else the most probable action per cell), so drawing a
    1000x1000 world takes a second and a figure of bounded size.
    """
    from matplotlib.patches import Rectangle

    from danlu.plotting import pyplot

    if ax is None:
        inch = _cell_inches(world)
        _, ax = pyplot().subplots(figsize=(inch * world.cols + 1, inch * world.rows + 0.8))
    R, C = world.rows, world.cols
    if world.n_states > IMAGE_CELLS:
        _plot_big(world, values, None if policy is None else as_policy(policy, world.n_states), ax)
        ax.set_xlim(0, C)
        ax.set_ylim(R, 0)
        ax.set_aspect("equal")
        ax.grid(False)
        if title:
            ax.set_title(title)
        return ax
    for s in range(world.n_states):
        r, c = world.cell(s)
        color = TARGET_COLOR if s == world.target_state else FORBIDDEN_COLOR if world.forbidden_mask[s] else "white"
        ax.add_patch(Rectangle((c, r), 1, 1, facecolor=color, edgecolor="0.3", lw=0.8))
    pi = None if policy is None else as_policy(policy, world.n_states)
    small = max(R, C) > 12
    rc = np.stack(np.divmod(np.arange(world.n_states), C), axis=1) + 0.5  # (S, 2) cell centres (row, col)
    if pi is not None:  # one quiver for every arrow and one scatter for every "stay" circle: fast to draw
        s_idx, a_idx = np.nonzero(pi[:, :4] > 1e-9)
        p = pi[s_idx, a_idx]
        ax.quiver(rc[s_idx, 1], rc[s_idx, 0], 0.4 * p * MOVES[a_idx, 1], 0.4 * p * MOVES[a_idx, 0],
                  angles="xy", scale_units="xy", scale=1, color="#2e7d32", width=0.012 if not small else 0.003,
                  headwidth=3.5, headlength=3.5, headaxislength=3)
        st = np.nonzero(pi[:, 4] > 1e-9)[0]
        ax.scatter(rc[st, 1], rc[st, 0], s=(120 if not small else 10) * np.maximum(pi[st, 4], 0.3),
                   facecolors="none", edgecolors="#2e7d32", linewidths=1.2)
    if values is not None and not small:
        for s in range(world.n_states):
            r, c = world.cell(s)
            if pi is not None:
                ax.text(c + 0.05, r + 0.95, fmt.format(values[s]), fontsize=6.5, ha="left", va="bottom")
            else:
                ax.text(c + 0.5, r + 0.5, fmt.format(values[s]), fontsize=9, ha="center", va="center")
    if values is not None and small:
        ax.imshow(values.reshape(R, C), extent=(0, C, R, 0), cmap="viridis", alpha=0.6, zorder=0)
    ax.set_xlim(0, C)
    ax.set_ylim(R, 0)
    ax.set_aspect("equal")
    ax.set_xticks(np.arange(C) + 0.5, [str(i) for i in range(C)] if C <= 12 else [""] * C)
    ax.set_yticks(np.arange(R) + 0.5, [str(i) for i in range(R)] if R <= 12 else [""] * R)
    ax.tick_params(length=0)
    ax.grid(False)
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def plot_solution(sol: Solution, path: str | pathlib.Path | None = None, *, title: str | None = None) -> Any:
    """Two panels like the book's figures: the policy (arrows) and the state values. Saves to ``path``
    if given; returns the figure."""
    from danlu.plotting import pyplot

    w = sol.world
    plt = pyplot()
    inch = _cell_inches(w)
    fig, axes = plt.subplots(1, 2, figsize=(2 * (inch * w.cols + 0.8) + (2.5 if w.n_states > IMAGE_CELLS else 0),
                                            inch * w.rows + 1.0))
    plot_grid(w, policy=sol.policy, ax=axes[0], title="policy")
    plot_grid(w, values=sol.values, ax=axes[1], title="state values")
    fig.suptitle(title or f"{sol.algo} on {w.name} (gamma={w.gamma:g}, {sol.iterations} iterations)")
    if path is not None:
        fig.tight_layout()
        fig.savefig(path)
        plt.close(fig)
    return fig
