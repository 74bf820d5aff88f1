"""Markdown tables generated from lab results.json files (never typed by hand).

``benchmarks/results/lab_*.md`` record verdicts; each is written by a tool from the runs'
results.json, so it holds no verdict the code did not produce:

* :func:`verdict_table` — card, verdict, effect text and rule for one or more runs
  (``tools/lab_results_table.py``);
* :func:`stability_table` — card x environment (torch threads, seed) -> verdict, plus whether the
  verdict is stable or flips (``tools/lab_stability.py``).

Generated files start with :data:`GENERATED_MARK`; the tools overwrite only such files.
"""

from __future__ import annotations

import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from danlu.errors import UsageError

if TYPE_CHECKING:
    from danlu.lab.compare import LoadedRun

GENERATED_MARK = "<!-- generated from lab results.json by"


def md_cell(text: Any) -> str:
    """One markdown table cell: whitespace collapsed to single spaces, ``|`` escaped."""
    return " ".join(str(text).split()).replace("|", "\\|") or "—"


def effect_text(card: dict[str, Any]) -> str:
    """All of a card's effects as ``name: text; ...``; its reason when it recorded no effect."""
    effects = card.get("effects") or {}
    parts = [f"{name}: {v.get('text', '')}" for name, v in effects.items() if isinstance(v, dict)]
    return "; ".join(parts) if parts else f"(no effect recorded) {card.get('reason', '')}"


def run_line(label: str, run: LoadedRun) -> str:
    """``- A: `<run id>` — quick, seed 0, cpu (x86_64), 2 threads, torch ..., created ...; `command```."""
    m = run.meta
    bits = [str(m.get("mode", "?")), f"seed {m.get('seed', '?')}",
            f"{m.get('device', '?')} ({m.get('device_name', '?')})", f"{m.get('threads', m.get('cpu_threads', '?'))} "
            f"torch thread(s)", f"torch {m.get('torch', '?')}", f"danlu {m.get('danlu_version', '?')}"]
    if m.get("git_commit"):
        bits.append(f"commit {m['git_commit']}")
    bits.append(f"created {m.get('created', '?')}")
    cmd = f"; command `{m['command']}`" if m.get("command") else ""
    status = "" if m.get("status", "complete") == "complete" else f" ({m.get('status')})"
    return f"- {label}: `{run.name}`{status} — {', '.join(bits)}{cmd}"


def verdict_table(runs: Sequence[LoadedRun], *, title: str = "lab verdicts", source: str = "") -> str:
    """The markdown page of card verdicts for ``runs`` (one verdict/effect column pair per run).

    The rule column is the card's pre-registered criterion from the first run that has the card;
    a run whose rule text differs is named in that cell, since its verdict was decided by another rule.
    """
    if not runs:
        raise UsageError("give at least one results.json or run folder")
    labels = [chr(ord("A") + i) if len(runs) > 1 else "run" for i in range(len(runs))]
    ids: list[str] = []
    for r in runs:
        ids += [i for i in r.cards if i not in ids]
    lines = [f"{GENERATED_MARK} {source or 'danlu.lab.markdown'}; edit the runs, not this file -->",
             f"# {title}", "", *(run_line(lab, r) for lab, r in zip(labels, runs)), ""]
    if len(runs) == 1:
        head = ["card", "verdict", "effect", "rule"]
    else:
        head = ["card", *(f"{h} {lab}" for lab in labels for h in ("verdict", "effect")), "rule"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for cid in ids:
        cells = [cid]
        rules: list[tuple[str, str]] = []
        for lab, r in zip(labels, runs):
            c = r.cards.get(cid)
            cells += [c.get("verdict", "?"), effect_text(c)] if c else ["—", "—"]
            if c is not None:
                rules.append((lab, " ".join(str(c.get("rule") or "").split())))
        rule = rules[0][1] if rules else ""
        differs = [lab for lab, text in rules[1:] if text != rule]
        rule_cell = (rule or "(no rule recorded)") + (f" [rule differs in {', '.join(differs)}]" if differs else "")
        lines.append("| " + " | ".join(md_cell(x) for x in [*cells, rule_cell]) + " |")
    return "\n".join(lines) + "\n"


def stability_table(runs: Sequence[tuple[str, LoadedRun]], *, title: str, command: str = "",
                    source: str = "") -> str:
    """Card x environment -> verdict, with ``stable`` (one verdict everywhere) or ``flips``.

    ``runs`` are ``(column label, run)`` pairs, e.g. ``("threads 1, seed 0", run)``. A card that
    errored anywhere is ``error``; a card missing from a run counts as ``—`` and is ``incomplete``.
    """
    if not runs:
        raise UsageError("stability table needs at least one run")
    first = runs[0][1].meta
    ids: list[str] = []
    for _, r in runs:
        ids += [i for i in r.cards if i not in ids]
    lines = [f"{GENERATED_MARK} {source or 'danlu.lab.markdown'}; edit the runs, not this file -->",
             f"# {title}", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Device: {first.get('device', '?')} ({first.get('device_name', '?')}), "
              f"{first.get('cpu_cores_available', '?')} CPU core(s) available; torch {first.get('torch', '?')}; "
              f"python {first.get('python', '?')}; danlu {first.get('danlu_version', '?')}"
              + (f", commit {first['git_commit']}" if first.get("git_commit") else "")
              + f"; mode {first.get('mode', '?')}.", "", "Runs:", ""]
    lines += [run_line(label, r) for label, r in runs]
    head = ["card", *(label for label, _ in runs), "across runs"]
    lines += ["", "| " + " | ".join(md_cell(h) for h in head) + " |", "|" + "---|" * len(head)]
    counts = {"stable": 0, "flips": 0, "error": 0, "incomplete": 0}
    for cid in ids:
        verdicts = [(r.cards.get(cid) or {}).get("verdict", "—") for _, r in runs]
        if "error" in verdicts:
            status = "error"
        elif "—" in verdicts:
            status = "incomplete"
        elif len(set(verdicts)) == 1:
            status = "stable"
        else:
            status = "flips"
        counts[status] += 1
        lines.append("| " + " | ".join(md_cell(x) for x in [cid, *verdicts, status]) + " |")
    lines += ["", f"{len(ids)} card(s): " + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + "."]
    return "\n".join(lines) + "\n"


def write_generated(path: pathlib.Path, text: str, *, overwrite: bool = False) -> pathlib.Path:
    """Write ``text`` to ``path`` unless it holds a file not generated by these tools (``--overwrite``)."""
    from danlu.files import write_text

    path = pathlib.Path(path)
    if path.is_dir():
        raise UsageError(f"--out {str(path)!r} is a directory; give a file path")
    if path.exists() and not overwrite:
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:200]
        except OSError as exc:
            raise UsageError(f"--out {str(path)!r}: {exc.strerror or exc}") from None
        if not head.startswith(GENERATED_MARK):
            raise UsageError(f"--out {str(path)!r} exists and was not generated from results.json; "
                             "pass --overwrite to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"--out {str(path)!r}: folder {str(path.parent)!r} does not exist")
    try:
        write_text(path, text)
    except OSError as exc:
        raise UsageError(f"--out {str(path)!r} is not writable ({exc.strerror or exc})") from None
    return path
