"""Render one lab run (the results.json dict) as one static HTML page.

The page has a header (run id, machine, versions, mode, seed, threads, a link to the index of
runs), a summary table of verdicts with each card's main effect, and one section per card:
claim, source note, the pre-registered rule in words, the verdict and its reason, the effects
with their intervals, the same card's verdict in the newest other run of each mode (quick/full),
numbers table, figures, runtime, device, seed and budget. Figures are PNG files beside the page
(``figures/``), so the folder can be copied or served as is.
"""

from __future__ import annotations

import html
import json
import math
from typing import Any

_BADGE = {"held": "held", "not held": "notheld", "inconclusive": "inconclusive", "error": "error"}

CSS = """
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


def badge(verdict: str) -> str:
    """A coloured verdict label."""
    return f"<span class='badge {_BADGE.get(verdict, 'error')}'>{html.escape(verdict)}</span>"


def _num(v: Any) -> str:
    """A JSON number or a non-finite marker (results.json stores infinities as "inf"/"-inf")."""
    if isinstance(v, str):
        return {"inf": "∞", "-inf": "−∞"}.get(v, v)
    return _fmt(float(v)) if isinstance(v, (int, float)) and not isinstance(v, bool) else "—"


def effect_interval(v: dict[str, Any]) -> str:
    """``"mean 4.1, 95% interval [2.9, 5.3], n=5"`` from an effect's JSON (empty if no numbers)."""
    if "mean" not in v:
        return ""
    level = v.get("level")
    lvl = f"{level:.0%} " if isinstance(level, (int, float)) else ""
    return f"mean {_num(v['mean'])}, {lvl}interval [{_num(v.get('lo'))}, {_num(v.get('hi'))}], n={v.get('n', '?')}"


def _effects(effects: dict[str, Any]) -> str:
    e = html.escape
    items = []
    for name, v in effects.items():
        v = v if isinstance(v, dict) else {"text": str(v)}
        nums = effect_interval(v)
        items.append(f"<li><b>{e(name)}</b>: {e(v.get('text') or nums)}"
                     + (f" <span class='meta'>({e(nums)})</span>" if nums and v.get("text") else "") + "</li>")
    return f"<ul class='effects'>{''.join(items)}</ul>" if items else ""


def _related(card: dict[str, Any], related: dict[str, Any] | None) -> str:
    """The same card's verdict in the newest other run of each mode, with a link to it."""
    e = html.escape
    others = (related or {}).get(card["id"]) or {}
    if not others:
        return ""
    bits = []
    for mode in ("quick", "full"):
        o = others.get(mode)
        if o:
            eff = next(iter((o.get("effects") or {}).values()), None)
            eff_text = f" — {e(eff.get('text', ''))}" if isinstance(eff, dict) and eff.get("text") else ""
            bits.append(f"{mode}: {badge(o['verdict'])} <a href='../{e(o['run'])}/index.html#{e(card['id'])}'>"
                        f"{e(o['run'])}</a>{eff_text}")
    return f"<div class='meta'><b>Other runs of this card</b> (newest per mode): {' · '.join(bits)}</div>"


def _card_section(c: dict[str, Any], related: dict[str, Any] | None = None) -> str:
    e = html.escape
    parts = [
        f"<section class='card' id='{e(c['id'])}'>",
        f"<h2>{e(c['title'])} <span class='meta'>({e(c['id'])})</span> {badge(c['verdict'])}</h2>",
        f"<div class='meta'>area: {e(c['area'])} · source: {e(c['source'])}</div>",
        f"<p class='claim'><b>Claim.</b> {e(c['claim'])}</p>",
    ]
    if c.get("rule"):
        parts.append(f"<div class='rule'><b>Rule, fixed before the run.</b> {e(c['rule'])}</div>")
    parts.append(f"<p class='reason'><b>What we saw.</b> {e(c['reason'])}</p>")
    parts.append(_effects(c.get("effects") or {}))
    parts.append(_related(c, related))
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
    return "\n".join(p for p in parts if p)


def tally_text(cards: list[dict[str, Any]]) -> str:
    """``"3 held · 1 not held · 0 inconclusive · 0 error"`` in the fixed verdict order."""
    from danlu.lab.core import VERDICTS

    counts = dict.fromkeys(VERDICTS, 0)
    for c in cards:
        counts[c["verdict"]] = counts.get(c["verdict"], 0) + 1
    return " · ".join(f"{n} {v}" for v, n in counts.items())


def _summary_row(c: dict[str, Any], related: dict[str, Any] | None) -> str:
    e = html.escape
    eff = next(iter((c.get("effects") or {}).values()), None)
    eff_text = e(eff.get("text", "")) if isinstance(eff, dict) else ""
    other_mode = "full" if c.get("mode") == "quick" else "quick"
    o = ((related or {}).get(c["id"]) or {}).get(other_mode)
    other = (f"{badge(o['verdict'])} <a class='meta' href='../{e(o['run'])}/index.html#{e(c['id'])}'>{other_mode}</a>"
             if o else "—")
    return (f"<tr><td class='l'><a href='#{e(c['id'])}'>{e(c['id'])}</a></td><td class='l'>{e(c['title'])}</td>"
            f"<td class='l'>{e(c['area'])}</td><td class='l'>{badge(c['verdict'])}</td><td class='l'>{eff_text}</td>"
            f"<td class='l'>{other}</td><td>{c['runtime_s']:.2f} s</td></tr>")


def write_report(results: dict[str, Any], *, related: dict[str, Any] | None = None,
                 runs_index: str = "../index.html") -> str:
    """Return the HTML page for ``results`` (the dict written to results.json).

    ``related`` maps card id -> mode -> the newest other run's ``{"run", "verdict", "effects"}``
    (shown beside each card); ``runs_index`` is the link to the index of runs.
    """
    e = html.escape
    m = results["meta"]
    cards = results["cards"]
    status = m.get("status", "complete")
    status_text = "" if status == "complete" else f" · <b>{e(status)}</b> ({len(cards)} of " \
        f"{len(m.get('cards_selected') or cards)} cards so far)"
    run_id = m.get("run_id", "")
    summary_rows = "".join(_summary_row(c, related) for c in cards)
    threads = m.get("threads", m.get("cpu_threads", "?"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>danlu lab report {e(run_id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body><header><h1>danlu lab report <span style="font-weight:normal;font-size:15px">{e(run_id)}</span></h1>
<p>{e(tally_text(cards)) if cards else "no cards yet"} · {e(m['mode'])} mode · seed {m['seed']} ·
{m['total_runtime_s']:.1f} s in cards{status_text}</p>
<p>device {e(m['device'])} ({e(m['device_name'])}) · {e(str(threads))} torch thread(s) · torch {e(m['torch'])} ·
python {e(m['python'])} · danlu {e(m['danlu_version'])} · {e(m['created'])}</p></header>
<main>
<p>Each card measures one claim from the notes on this machine. The verdict is computed from the
numbers shown, by the rule printed with the card (fixed before the run); "not held" is a finding,
not a failure. Raw numbers are in <a href="results.json">results.json</a>;
<a href="{e(runs_index)}">all runs</a>.</p>
<table><tr><th class='l'>card</th><th class='l'>title</th><th class='l'>area</th><th class='l'>verdict</th>
<th class='l'>effect</th><th class='l'>other mode</th><th>runtime</th></tr>
{summary_rows}</table>
{''.join(_card_section(c, related) for c in cards)}
</main></body></html>
"""
