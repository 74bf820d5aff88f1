"""Date normalisation: human-written dates in many formats -> ISO 8601 (``2021-03-12``), generated, no download.

A classic attention demo (the "neural machine translation of dates" exercise of deep-learning
courses): the output is short and fixed-form, the input varies in format and length. Formats
(``FORMATS``) are unambiguous by construction: slashes are US month/day, dots are European
day.month. ``filler`` words (``"on"``, ``"the date is"``, weekdays ...) lengthen the input
without changing the answer, so length buckets can be made.

    >>> from danlu.seq.dates import render_date, DATE_FORMATS
    >>> import datetime
    >>> render_date(datetime.date(2021, 3, 12), "long")
    '12 march 2021'
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Callable

MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"]
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
FILLERS = ["on", "the date is", "it was", "due", "deadline:", "meeting on", "we met on", "see you", "by",
           "scheduled for", "as of", "effective", "from", "until", "born on", "signed", "dated", "please reply by"]


def _ord(d: int) -> str:
    return f"{d}{'th' if 11 <= d % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(d % 10, 'th')}"


DATE_FORMATS: dict[str, Callable[[datetime.date], str]] = {
    "iso": lambda d: d.isoformat(),
    "long": lambda d: f"{d.day} {MONTHS[d.month - 1]} {d.year}",
    "us_long": lambda d: f"{MONTHS[d.month - 1]} {d.day}, {d.year}",
    "short_month": lambda d: f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "us_short": lambda d: f"{MONTHS[d.month - 1][:3]} {d.day} {d.year}",
    "us_slash": lambda d: f"{d.month}/{d.day}/{d.year}",
    "eu_dot": lambda d: f"{d.day:02d}.{d.month:02d}.{d.year}",
    "ordinal": lambda d: f"the {_ord(d.day)} of {MONTHS[d.month - 1]} {d.year}",
    "weekday": lambda d: f"{WEEKDAYS[d.weekday()]}, {MONTHS[d.month - 1]} {d.day}, {d.year}",
    "weekday_short": lambda d: f"{WEEKDAYS[d.weekday()][:3]} {d.day} {MONTHS[d.month - 1][:3]} {d.year}",
    "compact": lambda d: f"{d.year}{d.month:02d}{d.day:02d}",
}


def render_date(d: datetime.date, fmt: str) -> str:
    """``d`` written in format ``fmt`` (a key of :data:`DATE_FORMATS`)."""
    from danlu.errors import DanluError

    if fmt not in DATE_FORMATS:
        raise DanluError(f"render_date: unknown format {fmt!r}; valid: {', '.join(DATE_FORMATS)}")
    return DATE_FORMATS[fmt](d)


def date_pairs(n: int, *, seed: int = 0, filler: int = 0, formats: list[str] | None = None,
               years: tuple[int, int] = (1950, 2049)) -> list[tuple[str, str]]:
    """``n`` (human date, ISO date) pairs; each input gets up to ``filler`` filler phrases before it."""
    from danlu.errors import DanluError

    fmts = list(formats or DATE_FORMATS)
    bad = [f for f in fmts if f not in DATE_FORMATS]
    if bad:
        raise DanluError(f"date_pairs: unknown format {bad[0]!r}; valid: {', '.join(DATE_FORMATS)}")
    if n < 1 or filler < 0:
        raise DanluError(f"date_pairs: need n >= 1 and filler >= 0, got n={n}, filler={filler}")
    rng = random.Random(seed)
    start = datetime.date(years[0], 1, 1).toordinal()
    span = datetime.date(years[1], 12, 31).toordinal() - start + 1
    out = []
    for _ in range(n):
        d = datetime.date.fromordinal(start + rng.randrange(span))
        words = [rng.choice(FILLERS) for _ in range(rng.randint(0, filler))]
        out.append((" ".join([*words, render_date(d, rng.choice(fmts))]), d.isoformat()))
    return out
