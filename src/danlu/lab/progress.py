"""What ``danlu lab`` prints: a line per card as it finishes, then a timing table and the verdict total.

A card's line is ``[ 3/31] held         tr-relu        2.8 s  reason...``; the reason is wrapped
under itself at the terminal's width (never cut), so a long reason reads as a paragraph.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from danlu.lab.runner import CardRun

COLORS = {"held": "green", "not held": "yellow", "inconclusive": "white", "error": "red"}


def wrap_reason(reason: str, *, first: int, indent: int, width: int) -> list[str]:
    """``reason`` as whole-word lines: the first starts at column ``first``, the rest at ``indent``.

    Lines fit in ``width`` columns (or 30 characters of text, whichever is more); nothing is dropped.
    """
    text = " ".join(reason.split())
    lines = textwrap.wrap(text, max(width, first + 30), initial_indent=" " * first,
                          subsequent_indent=" " * indent, break_on_hyphens=False)
    if not lines:
        return [""]
    return [lines[0][first:], *lines[1:]]


def card_line(run: CardRun, index: int, total: int, *, width: int = 100) -> Any:
    """The rich ``Text`` printed when card ``index`` of ``total`` finishes."""
    from rich.text import Text

    n = len(str(total))
    prefix = f"  [{index:>{n}}/{total}] "
    head = f"{run.verdict:<12} {run.info.id:<18} {run.runtime_s:6.1f} s  "
    lines = wrap_reason(run.reason, first=len(prefix) + len(head), indent=len(prefix) + 2, width=width)
    text = Text(prefix)
    text.append(f"{run.verdict:<12}", style=COLORS.get(run.verdict, "white"))
    text.append(head[12:])
    text.append(lines[0])
    for line in lines[1:]:
        text.append("\n" + line)
    return text


def tally(runs: Sequence[CardRun]) -> dict[str, int]:
    """Verdict counts in report order (every verdict present, zeros included)."""
    from danlu.lab.core import VERDICTS

    counts = dict.fromkeys(VERDICTS, 0)
    for r in runs:
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    return counts


def tally_line(runs: Sequence[CardRun]) -> str:
    """``"31 cards: 15 held · 9 not held · 6 inconclusive · 1 error"``."""
    return f"{len(runs)} card(s): " + " · ".join(f"{n} {v}" for v, n in tally(runs).items())


def timing_table(runs: Sequence[CardRun]) -> Any:
    """A rich table of card times, slowest first, with each card's share of the total."""
    from rich.table import Table

    total = sum(r.runtime_s for r in runs) or 1.0
    t = Table(title="time per card (slowest first)", title_justify="left")
    for col, justify in (("card", "left"), ("verdict", "left"), ("time", "right"), ("share", "right")):
        t.add_column(col, justify=justify, no_wrap=True)
    for r in sorted(runs, key=lambda r: r.runtime_s, reverse=True):
        t.add_row(r.info.id, f"[{COLORS.get(r.verdict, 'white')}]{r.verdict}[/]", f"{r.runtime_s:.1f} s",
                  f"{100 * r.runtime_s / total:.0f}%")
    t.add_row("total", "", f"{sum(r.runtime_s for r in runs):.1f} s", "", style="bold")
    return t


def summary_lines(runs: Sequence[CardRun], wall_hint: float | None = None) -> list[Any]:
    """What the lab prints at the end: the timing table, then the verdict total."""
    from rich.text import Text

    if not runs:
        return [Text("no card finished")]
    line = Text(tally_line(runs), style="bold")
    if wall_hint is not None:
        line.append(f"  ({wall_hint:.1f} s wall)")
    return [timing_table(runs), line]
