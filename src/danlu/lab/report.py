"""Render lab results (the results.json dict) as one static HTML page.

The page has a header (machine, versions, mode, seed), a summary table of verdicts, and one
section per card: claim, source note, verdict and its reason, numbers table, figures, runtime,
device, seed and budget. Figures are PNG files beside the page (``figures/``), so the folder
can be copied or served as is.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

_BADGE = {"held": "held", "not held": "notheld", "inconclusive": "inconclusive", "error": "error"}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#23283a;color:#f3f4f7;padding:18px 32px}
header h1{margin:0 0 4px 0;font-size:22px} header p{margin:2px 0;color:#c9cdd8;font-size:13px}
main{max-width:1100px;margin:0 auto;padding:18px 32px 60px}
table{border-collapse:collapse;margin:8px 0;font-size:13px;background:#fff}
th,td{border:1px solid #dde1e8;padding:4px 8px;text-align:right}
th{background:#eef0f4} td.l,th.l{text-align:left}
section.card{background:#fff;border:1px solid #dde1e8;border-radius:8px;padding:14px 20px;margin:18px 0}
section.card h2{margin:0 0 6px 0;font-size:18px}
.meta{color:#5b6375;font-size:12px}
.claim{font-size:15px;margin:8px 0}
.badge{display:inline-block;padding:2px 9px;border-radius:10px;font-size:12px;font-weight:600;color:#fff}
.held{background:#1f8a4c}.notheld{background:#b7791f}.inconclusive{background:#6b7280}.error{background:#c53030}
.reason{margin:6px 0 10px 0}
.rule{background:#f1f4fa;border-left:3px solid #8a9bc4;padding:6px 10px;margin:6px 0;font-size:13px;white-space:pre-line}
ul.effects{margin:4px 0 10px 0;font-size:13px}
figure{display:inline-block;margin:6px 12px 6px 0} figure img{max-width:100%;border:1px solid #e4e7ee}
figcaption{font-size:12px;color:#5b6375}
pre{background:#fbeaea;padding:8px;overflow-x:auto;font-size:12px}
a{color:#2b59c3}
"""


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return "—" if v is None else str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        a = abs(v)
        if a != 0 and (a < 1e-3 or a >= 1e6):
            return f"{v:.3e}"
        return f"{v:.4g}"
    if isinstance(v, (list, dict)):
        return json.dumps(v)[:80]
    return str(v)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    cols: list[str] = []
    for r in rows:
        cols += [c for c in r if c not in cols]
    head = "".join(f"<th class='l'>{html.escape(c)}</th>" if i == 0 else f"<th>{html.escape(c)}</th>"
                   for i, c in enumerate(cols))
    body = []
    for r in rows:
        tds = []
        for i, c in enumerate(cols):
            cls = " class='l'" if i == 0 or isinstance(r.get(c), str) else ""
            tds.append(f"<td{cls}>{html.escape(_fmt(r.get(c)))}</td>")
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _badge(verdict: str) -> str:
    return f"<span class='badge {_BADGE.get(verdict, 'error')}'>{html.escape(verdict)}</span>"


def _card_section(c: dict[str, Any]) -> str:
    e = html.escape
    parts = [
        f"<section class='card' id='{e(c['id'])}'>",
        f"<h2>{e(c['title'])} <span class='meta'>({e(c['id'])})</span> {_badge(c['verdict'])}</h2>",
        f"<div class='meta'>area: {e(c['area'])} · source: {e(c['source'])}</div>",
        f"<p class='claim'><b>Claim.</b> {e(c['claim'])}</p>",
    ]
    if c.get("rule"):
        parts.append(f"<div class='rule'><b>Rule, fixed before the run.</b> {e(c['rule'])}</div>")
    parts.append(f"<p class='reason'><b>What we saw.</b> {e(c['reason'])}</p>")
    effects = c.get("effects") or {}
    if effects:
        items = "".join(f"<li><b>{e(name)}</b>: {e(v.get('text') or '')}</li>" for name, v in effects.items())
        parts.append(f"<ul class='effects'>{items}</ul>")
    if c.get("notes"):
        parts.append(f"<p class='meta'>{e(c['notes'])}</p>")
    parts.append(_table(c.get("table") or []))
    for fig in c.get("figures") or []:
        cap = (c.get("captions") or {}).get(fig, "")
        parts.append(f"<figure><img src='figures/{e(fig)}' alt='{e(fig)}'>"
                     f"<figcaption>{e(cap or fig)}</figcaption></figure>")
    if c.get("error"):
        parts.append(f"<details open><summary>traceback</summary><pre>{e(c['error'])}</pre></details>")
    budget = ", ".join(f"{k}={_fmt(v)}" for k, v in (c.get("budget") or {}).items())
    parts.append(f"<div class='meta'>runtime {c['runtime_s']:.2f} s · device {e(c['device'])} · "
                 f"seed {c['seed']} · {e(c['mode'])} budget: {e(budget) or '—'}</div>")
    parts.append("</section>")
    return "\n".join(parts)


def write_report(results: dict[str, Any]) -> str:
    """Return the HTML page for ``results`` (the dict written to results.json)."""
    e = html.escape
    m = results["meta"]
    cards = results["cards"]
    counts: dict[str, int] = {}
    for c in cards:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    tally = " · ".join(f"{n} {v}" for v, n in counts.items()) or "no cards"
    summary_rows = "".join(
        f"<tr><td class='l'><a href='#{e(c['id'])}'>{e(c['id'])}</a></td><td class='l'>{e(c['title'])}</td>"
        f"<td class='l'>{e(c['area'])}</td><td class='l'>{_badge(c['verdict'])}</td><td>{c['runtime_s']:.2f} s</td></tr>"
        for c in cards)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>danlu lab report</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>
<body><header><h1>danlu lab report</h1>
<p>{e(tally)} · {e(m['mode'])} mode · seed {m['seed']} · {m['total_runtime_s']:.1f} s total</p>
<p>device {e(m['device'])} ({e(m['device_name'])}) · torch {e(m['torch'])} · python {e(m['python'])} ·
danlu {e(m['danlu_version'])} · {e(m['created'])}</p></header>
<main>
<p>Each card measures one claim from the notes on this machine. The verdict is computed from the
numbers shown; "not held" is a finding, not a failure. Raw numbers are in
<a href="results.json">results.json</a>.</p>
<table><tr><th class='l'>card</th><th class='l'>title</th><th class='l'>area</th><th class='l'>verdict</th><th>runtime</th></tr>
{summary_rows}</table>
{''.join(_card_section(c) for c in cards)}
</main></body></html>
"""
