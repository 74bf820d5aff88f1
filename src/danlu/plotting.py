"""Matplotlib access for figures, imported lazily with the non-interactive Agg backend."""

from __future__ import annotations

from typing import Any


def pyplot() -> Any:
    """Return ``matplotlib.pyplot`` configured for file output (Agg, no display needed)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 9,
    })
    return plt


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 5.0, height: float = 3.4, **kw: Any):
    """``plt.subplots`` with a size per panel; returns ``(fig, axes)``."""
    plt = pyplot()
    return plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False, **kw)
