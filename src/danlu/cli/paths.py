"""Checks a verb runs on its input and output paths before doing any work, and the atomic figure save.

An input that is a folder where a file is expected says so ("is a directory", with the files it
holds that would fit), not "does not exist".

A figure path is checked up front (extension matplotlib can write, folder exists, not a folder,
not an existing file unless ``--overwrite``), so a bad ``--plot`` fails in a second with one line
instead of after the computation with a matplotlib traceback; the figure is then written through
:class:`danlu.files.AtomicWrite` (no half-written file on error).
"""

from __future__ import annotations

import pathlib
from typing import Any

from danlu.errors import UsageError


def check_input_file(path: str, *, what: str, pattern: str = "*") -> pathlib.Path:
    """``path`` if it is an existing file; a folder or a missing path raise one line naming ``what``.

    For a folder the message lists up to three files in it matching ``pattern`` (e.g. ``"*.yaml"``).
    """
    from danlu.errors import DanluError

    p = pathlib.Path(path)
    if p.is_dir():
        found = sorted(str(f) for f in p.glob(pattern) if f.is_file())[:3]
        hint = f", e.g. {', '.join(found)}" if found else ""
        raise DanluError(f"{what} {path!r} is a directory; give a file{hint}")
    if not p.exists():
        raise DanluError(f"{what} {path!r} does not exist")
    return p


def figure_formats() -> list[str]:
    """File extensions matplotlib can write here (``png``, ``pdf``, ``svg``, ...), sorted."""
    from matplotlib.backend_bases import FigureCanvasBase

    return sorted(FigureCanvasBase.get_supported_filetypes())


def check_figure_path(path: str, *, flag: str = "--plot", overwrite: bool = False) -> pathlib.Path:
    """``path`` if a figure can be written there; else a one-line :class:`UsageError` naming ``flag``.

    The format comes from the extension, which must be one matplotlib writes; an existing file is
    refused unless ``overwrite`` (see :func:`danlu.files.check_output`).
    """
    from danlu.files import check_output

    p = pathlib.Path(path)
    ext = p.suffix.lower().lstrip(".")
    valid = figure_formats()
    if not ext:
        raise UsageError(f"{flag} {path!r} has no extension; name the format with one of: {', '.join(valid)}")
    if ext not in valid:
        raise UsageError(f"{flag} {path!r}: unknown figure format {ext!r}; valid: {', '.join(valid)}")
    return check_output(p, overwrite=overwrite, flag=flag)


def save_figure(fig: Any, path: str | pathlib.Path) -> pathlib.Path:
    """Write a matplotlib figure atomically, in the format named by the extension of ``path``."""
    from danlu.files import atomic_path

    p = pathlib.Path(path)
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format=p.suffix.lower().lstrip("."))
    return p
