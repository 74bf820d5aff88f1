"""Compare two lab runs card by card: verdicts and effects side by side, and what changed.

Typical pairs: two seeds, two machines, CPU vs GPU, quick vs full, before vs after a change.
A run is given as its folder, its ``results.json``, a run id under the lab root, or ``latest``.

    >>> # danlu lab --compare danlu-lab/20260101-120000-quick-all danlu-lab/latest

What counts as a change, per card present in both runs:

* ``verdict changed`` — the verdicts differ (``held -> not held``);
* ``effect moved`` — same verdict, but an effect's intervals in the two runs do not overlap;
* ``same`` — same verdict, and every shared effect's intervals overlap (or there are none).

A card in one run only is listed as ``only in A`` / ``only in B``.
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from danlu.errors import UsageError
from danlu.lab.runs import LATEST_TXT, read_results

#: Header fields shown side by side (the ones that explain why two runs differ).
META_FIELDS = ("run_id", "created", "mode", "seed", "device", "device_name", "threads", "cpu_cores_available",
               "omp_wait_policy", "torch", "python", "platform", "danlu_version", "status")


@dataclass
class LoadedRun:
    """A run read for comparison: where it is, its header and its cards by id."""

    name: str
    folder: pathlib.Path
    meta: dict[str, Any]
    cards: dict[str, dict[str, Any]]


def load_run(spec: str, *, root: pathlib.Path | None = None) -> LoadedRun:
    """Read the run named by ``spec`` (folder, results.json, run id under ``root``, or ``latest``).

    Raises:
        UsageError: one line naming ``spec`` and what is wrong with it.
    """
    path = pathlib.Path(spec)
    if not path.exists() and root is not None:
        name = spec
        if spec == "latest" and (pathlib.Path(root) / LATEST_TXT).is_file():
            name = (pathlib.Path(root) / LATEST_TXT).read_text(encoding="utf-8").strip()
        if (pathlib.Path(root) / name).exists():
            path = pathlib.Path(root) / name
    if not path.exists():
        where = f" or a run id under {str(root)!r}" if root is not None else ""
        raise UsageError(f"run {spec!r} not found: give a run folder, its results.json{where}")
    results = path / "results.json" if path.is_dir() else path
    if path.is_dir() and not results.is_file():
        raise UsageError(f"run folder {spec!r} has no results.json (is it a danlu lab run?)")
    data = read_results(results)
    if data is None:
        raise UsageError(f"{str(results)!r} is not a danlu lab results.json (unreadable, not JSON, or no meta/cards)")
    cards: dict[str, dict[str, Any]] = {}
    for c in data["cards"]:
        if not isinstance(c, dict) or "id" not in c or "verdict" not in c:
            raise UsageError(f"{str(results)!r}: a card entry has no id or verdict")
        cards[str(c["id"])] = c
    folder = results.parent
    name = str(data["meta"].get("run_id") or folder.name)
    return LoadedRun(name=name, folder=folder.resolve(), meta=data["meta"], cards=cards)


def _num(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if v in ("inf", "-inf"):
        return math.inf if v == "inf" else -math.inf
    return None


def intervals_overlap(a: dict[str, Any], b: dict[str, Any]) -> bool | None:
    """Whether two effects' intervals overlap; ``None`` when either lacks an interval."""
    lo_a, hi_a, lo_b, hi_b = (_num(a.get("lo")), _num(a.get("hi")), _num(b.get("lo")), _num(b.get("hi")))
    if None in (lo_a, hi_a, lo_b, hi_b):
        return None
    return lo_a <= hi_b and lo_b <= hi_a  # type: ignore[operator]


@dataclass
class CardDiff:
    """One card in the comparison."""

    id: str
    title: str
    a: dict[str, Any] | None
    b: dict[str, Any] | None
    change: str
    effect_notes: list[str] = field(default_factory=list)

    @property
    def verdicts(self) -> tuple[str, str]:
        return ((self.a or {}).get("verdict", "—"), (self.b or {}).get("verdict", "—"))


def _diff_card(cid: str, a: dict[str, Any] | None, b: dict[str, Any] | None) -> CardDiff:
    title = str((a or b or {}).get("title", ""))
    if a is None or b is None:
        return CardDiff(cid, title, a, b, "only in A" if b is None else "only in B")
    notes: list[str] = []
    moved = False
    ea, eb = a.get("effects") or {}, b.get("effects") or {}
    for name in [n for n in ea if n in eb]:
        ov = intervals_overlap(ea[name], eb[name])
        if ov is False:
            moved = True
            notes.append(f"{name}: intervals do not overlap")
    for name in [n for n in ea if n not in eb]:
        notes.append(f"{name}: only in A")
    for name in [n for n in eb if n not in ea]:
        notes.append(f"{name}: only in B")
    if " ".join(str(a.get("rule") or "").split()) != " ".join(str(b.get("rule") or "").split()):
        notes.append("the rule differs (the card's code changed between the runs)")
    if a.get("verdict") != b.get("verdict"):
        change = f"verdict changed: {a.get('verdict')} -> {b.get('verdict')}"
    elif moved:
        change = "effect moved"
    else:
        change = "same"
    return CardDiff(cid, title, a, b, change, notes)


@dataclass
class Comparison:
    """Two runs compared: header differences and one :class:`CardDiff` per card."""

    a: LoadedRun
    b: LoadedRun
    cards: list[CardDiff]

    def meta_rows(self) -> list[tuple[str, str, str, bool]]:
        """``(field, A, B, differs)`` for the header fields either run has."""
        rows = []
        for k in META_FIELDS:
            va, vb = self.a.meta.get(k), self.b.meta.get(k)
            if va is None and vb is None:
                continue
            rows.append((k, "—" if va is None else str(va), "—" if vb is None else str(vb), va != vb))
        return rows

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.cards:
            key = "verdict changed" if d.change.startswith("verdict changed") else d.change
            out[key] = out.get(key, 0) + 1
        return out

    def summary(self) -> str:
        """``"12 cards: 9 same, 2 verdict changed, 1 effect moved"``."""
        c = self.counts()
        order = ("same", "verdict changed", "effect moved", "only in A", "only in B")
        return f"{len(self.cards)} cards: " + ", ".join(f"{c[k]} {k}" for k in order if c.get(k))


def compare_runs(a: LoadedRun, b: LoadedRun, only: Sequence[str] | None = None) -> Comparison:
    """Compare ``a`` and ``b`` (all their cards, or ``only`` these ids, in A's order then B's)."""
    ids = list(a.cards) + [i for i in b.cards if i not in a.cards]
    if only:
        missing = [i for i in only if i not in a.cards and i not in b.cards]
        if missing:
            raise UsageError(f"card {missing[0]!r} is in neither run; cards in them: {', '.join(ids)}")
        ids = [i for i in ids if i in set(only)]
    return Comparison(a, b, [_diff_card(i, a.cards.get(i), b.cards.get(i)) for i in ids])


def first_effect(card: dict[str, Any] | None, limit: int | None = None) -> str:
    """The text of a card's first effect, else its reason; cut at ``limit`` characters with "…"."""
    if not card:
        return "—"
    text = str(card.get("reason", ""))
    for name, v in (card.get("effects") or {}).items():
        if isinstance(v, dict) and v.get("text"):
            text = f"{name}: {v['text']}"
            break
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 1].rstrip() + "…"


def compare_page_name(cmp: Comparison) -> str:
    """``<A>__vs__<B>.html`` (run names made safe for a file name)."""
    def safe(s: str) -> str:
        return "".join(ch if ch.isalnum() or ch in "-_.+" else "_" for ch in s)[:80]

    a, b = safe(cmp.a.name), safe(cmp.b.name)
    if a == b:
        a, b = f"{a}-A", f"{b}-B"
    return f"{a}__vs__{b}.html"


def render_compare(cmp: Comparison, *, page_dir: pathlib.Path) -> str:
    """The HTML page of ``cmp``; links to the runs' reports are relative to ``page_dir``."""
    import html

    from danlu.lab.report import CSS, badge, effect_interval

    e = html.escape

    def link(run: LoadedRun, cid: str = "") -> str:
        rel = os.path.relpath(run.folder / "index.html", page_dir).replace(os.sep, "/")
        return e(rel + (f"#{cid}" if cid else ""))

    def effects(card: dict[str, Any] | None) -> str:
        if not card:
            return "—"
        items = [f"<div><b>{e(n)}</b>: {e(v.get('text') or '')} <span class='meta'>{e(effect_interval(v))}</span></div>"
                 for n, v in (card.get("effects") or {}).items() if isinstance(v, dict)]
        return "".join(items) or f"<span class='meta'>{e(str(card.get('reason', '')))}</span>"

    diff_cls = {True: " class='diff'", False: ""}
    meta = "".join(f"<tr{diff_cls[d]}><td class='l'>{e(k)}</td><td class='l'>{e(va)}</td>"
                   f"<td class='l'>{e(vb)}</td></tr>" for k, va, vb, d in cmp.meta_rows())
    rows = []
    for d in cmp.cards:
        va, vb = d.verdicts
        ra = f"{(d.a or {}).get('runtime_s', 0):.1f} s" if d.a else "—"
        rb = f"{(d.b or {}).get('runtime_s', 0):.1f} s" if d.b else "—"
        notes = "".join(f"<div class='meta'>{e(n)}</div>" for n in d.effect_notes)
        cls = "" if d.change == "same" else " class='diff'"
        rows.append(
            f"<tr{cls}><td class='l'>{e(d.id)}<div class='meta'>{e(d.title)}</div></td>"
            f"<td class='l'>{badge(va) if d.a else '—'} " + (f"<a class='meta' href='{link(cmp.a, d.id)}'>A</a>" if d.a else "")
            + f"</td><td class='l'>{badge(vb) if d.b else '—'} "
            + (f"<a class='meta' href='{link(cmp.b, d.id)}'>B</a>" if d.b else "")
            + f"</td><td class='l'>{effects(d.a)}</td><td class='l'>{effects(d.b)}</td>"
            f"<td class='l'><b>{e(d.change)}</b>{notes}</td><td>{ra}</td><td>{rb}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>danlu lab: {e(cmp.a.name)} vs {e(cmp.b.name)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}
tr.diff td{{background:#fff7e0}}</style></head>
<body><header><h1>danlu lab: two runs compared</h1>
<p>A: <a style="color:#c9d6ff" href="{link(cmp.a)}">{e(cmp.a.name)}</a> ·
B: <a style="color:#c9d6ff" href="{link(cmp.b)}">{e(cmp.b.name)}</a></p><p>{e(cmp.summary())}</p></header>
<main>
<h2>The runs</h2><p class='meta'>Highlighted rows differ between the runs.</p>
<table><tr><th class='l'>field</th><th class='l'>A</th><th class='l'>B</th></tr>{meta}</table>
<h2>Card by card</h2>
<p class='meta'>"effect moved": same verdict, but an effect's intervals in A and B do not overlap.</p>
<table><tr><th class='l'>card</th><th class='l'>A</th><th class='l'>B</th><th class='l'>effects A</th>
<th class='l'>effects B</th><th class='l'>what changed</th><th>time A</th><th>time B</th></tr>
{''.join(rows)}</table>
</main></body></html>
"""


def print_compare(cmp: Comparison, console: Any, *, page: pathlib.Path | None = None) -> None:
    """Print ``cmp`` as a terminal table (rich ``console``), then the summary and the page's path.

    Effect cells are cut at 90 characters with "…" (the page has them in full).
    """
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=f"A = {cmp.a.name}   B = {cmp.b.name}", show_lines=False)
    for col, kw in (("card", {"no_wrap": True}), ("A", {"no_wrap": True}), ("B", {"no_wrap": True}),
                    ("effect A", {"overflow": "fold"}), ("effect B", {"overflow": "fold"}),
                    ("what changed", {"overflow": "fold"})):
        t.add_column(col, **kw)
    colors = {"held": "green", "not held": "yellow", "inconclusive": "white", "error": "red"}
    for d in cmp.cards:
        va, vb = d.verdicts
        change = d.change if d.change == "same" else f"[bold]{escape(d.change)}[/bold]"
        ea, eb = first_effect(d.a, 90), first_effect(d.b, 90)
        t.add_row(escape(d.id), f"[{colors.get(va, 'white')}]{escape(va)}[/]", f"[{colors.get(vb, 'white')}]{escape(vb)}[/]",
                  escape(ea), "(same text as A)" if d.a and d.b and ea == eb else escape(eb), change)
    console.print(t)
    diffs = [(k, va, vb) for k, va, vb, differs in cmp.meta_rows() if differs and k not in ("run_id", "created")]
    if diffs:
        console.print("runs differ in: " + "; ".join(f"{k} {va} -> {vb}" for k, va, vb in diffs), highlight=False,
                      markup=False)
    for d in cmp.cards:
        if d.change != "same":
            extra = f" ({'; '.join(d.effect_notes)})" if d.effect_notes else ""
            console.print(f"  {d.id}: {d.change}{extra}", highlight=False, markup=False)
    console.print(cmp.summary(), highlight=False, markup=False)
    if page is not None:
        console.print(f"compare page: {page.resolve()}", highlight=False, markup=False, soft_wrap=True)
