"""The index page of a lab root: every run (newest first) and the latest verdict of each card per mode.

Pure rendering: :meth:`danlu.lab.runs.LabRoot.refresh` gathers the runs and writes the page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from danlu.lab.report import CSS, badge

if TYPE_CHECKING:
    from danlu.lab.runs import RunSummary


def _run_row(r: RunSummary) -> str:
    e = html.escape
    m = r.meta
    t = r.tally()
    status = str(m.get("status", "complete"))
    total = m.get("wall_s", m.get("total_runtime_s"))
    total_text = f"{float(total):.1f} s" if isinstance(total, (int, float)) else "—"
    counts = "".join(f"<td>{t.get(v, 0) or ''}</td>" for v in ("held", "not held", "inconclusive", "error"))
    return (f"<tr><td class='l'><a href='{e(r.run_id)}/index.html'>{e(r.run_id)}</a></td>"
            f"<td class='l'>{e(r.created)}</td><td class='l'>{e(r.mode)}</td><td>{e(str(m.get('seed', '')))}</td>"
            f"<td class='l'>{e(str(m.get('device', '')))} ({e(str(m.get('device_name', '')))})</td>"
            f"<td>{e(str(m.get('threads', m.get('cpu_threads', ''))))}</td><td>{len(r.cards)}</td>{counts}"
            f"<td>{total_text}</td><td class='l'>{e(status)}</td></tr>")


def _latest_per_card(runs: Sequence[RunSummary]) -> str:
    e = html.escape
    latest: dict[str, dict[str, tuple[str, str]]] = {}
    titles: dict[str, str] = {}
    for r in runs:  # newest first
        if r.meta.get("status") == "running":
            continue
        for c in r.cards:
            cid = str(c.get("id"))
            titles.setdefault(cid, str(c.get("title", "")))
            latest.setdefault(cid, {}).setdefault(r.mode, (r.run_id, str(c.get("verdict", "?"))))
    if not latest:
        return ""
    rows = []
    for cid in sorted(latest):
        cells = []
        for mode in ("quick", "full"):
            hit = latest[cid].get(mode)
            cells.append("<td class='l'>—</td>" if hit is None else
                         f"<td class='l'>{badge(hit[1])} <a class='meta' href='{e(hit[0])}/index.html#{e(cid)}'>"
                         f"{e(hit[0])}</a></td>")
        rows.append(f"<tr><td class='l'>{e(cid)}</td><td class='l'>{e(titles[cid])}</td>{''.join(cells)}</tr>")
    return ("<h2>Latest verdict of each card</h2><table><tr><th class='l'>card</th><th class='l'>title</th>"
            "<th class='l'>quick</th><th class='l'>full</th></tr>" + "".join(rows) + "</table>")


def render_runs_index(runs: Sequence[RunSummary], *, root_name: str, compares: Sequence[str] = ()) -> str:
    """The HTML index of ``runs`` (newest first) under the lab root ``root_name``."""
    e = html.escape
    newest = f"<p>Newest run: <a href='{e(runs[0].run_id)}/index.html'>{e(runs[0].run_id)}</a></p>" if runs else ""
    table = ("<table><tr><th class='l'>run</th><th class='l'>created (UTC)</th><th class='l'>mode</th><th>seed</th>"
             "<th class='l'>device</th><th>threads</th><th>cards</th><th>held</th><th>not held</th>"
             "<th>inconclusive</th><th>error</th><th>time</th><th class='l'>status</th></tr>"
             + "".join(_run_row(r) for r in runs) + "</table>") if runs else "<p>No runs yet.</p>"
    comp = ""
    if compares:
        comp = "<h2>Comparisons</h2><ul>" + "".join(
            f"<li><a href='compare/{e(c)}'>{e(c.removesuffix('.html'))}</a></li>" for c in compares) + "</ul>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>danlu lab runs</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><header><h1>danlu lab runs</h1><p>{e(root_name)} · {len(runs)} run(s)</p></header>
<main>{newest}
<p>Each run has its own folder and report. Compare two runs card by card with
<code>danlu lab --compare RUN_A RUN_B</code> (folders or results.json paths).</p>
{table}
{_latest_per_card(runs)}
{comp}
</main></body></html>
"""
