"""tools/lab_results_table.py and tools/lab_stability.py: markdown generated from results.json fixtures."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from danlu.errors import UsageError
from danlu.lab.compare import load_run
from danlu.lab.markdown import GENERATED_MARK, stability_table, verdict_table, write_generated

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _card(cid: str, verdict: str, *, effect: str | None = None, rule: str = "Held when x > 1.") -> dict:
    effects = {"gain": {"mean": 2.0, "lo": 1.5, "hi": 2.5, "n": 5, "text": effect}} if effect else {}
    return {"id": cid, "title": cid.upper(), "verdict": verdict, "reason": f"{cid} reason | with a bar",
            "rule": rule, "effects": effects, "runtime_s": 1.0}


def _run(folder: pathlib.Path, cards: list[dict], **meta) -> pathlib.Path:
    folder.mkdir(parents=True, exist_ok=True)
    m = {"run_id": folder.name, "mode": "quick", "seed": 0, "threads": 1, "device": "cpu", "device_name": "x86_64",
         "torch": "2.9", "danlu_version": "0.1.0", "created": "2026-01-01T00:00:00+00:00",
         "command": "danlu lab --quick", "status": "complete", **meta}
    (folder / "results.json").write_text(json.dumps({"meta": m, "cards": cards}))
    return folder


def test_verdict_table_one_run(tmp_path):
    run = _run(tmp_path / "r1", [_card("a", "held", effect="+2.0 ± 0.5 points"),
                                 _card("b", "not held", rule="Held when\n  the gap\n  is small.")])
    md = verdict_table([load_run(str(run))], title="T", source="test")
    lines = md.splitlines()
    assert lines[0].startswith(GENERATED_MARK) and lines[1] == "# T"
    assert "- run: `r1` — quick, seed 0, cpu (x86_64), 1 torch thread(s)" in md and "`danlu lab --quick`" in md
    assert "| card | verdict | effect | rule |" in md
    assert "| a | held | gain: +2.0 ± 0.5 points | Held when x > 1. |" in md
    # no effect: the reason stands in, pipes escaped, the multi-line rule on one line
    assert r"| b | not held | (no effect recorded) b reason \| with a bar | Held when the gap is small. |" in md


def test_verdict_table_two_runs_side_by_side_and_rule_changes_are_named(tmp_path):
    a = _run(tmp_path / "q", [_card("a", "held", effect="+2.0"), _card("b", "held")])
    b = _run(tmp_path / "f", [_card("a", "inconclusive", effect="+0.1", rule="Another rule."), _card("c", "error")],
             mode="full")
    md = verdict_table([load_run(str(a)), load_run(str(b))])
    assert "| card | verdict A | effect A | verdict B | effect B | rule |" in md
    assert "- A: `q` — quick" in md and "- B: `f` — full" in md
    assert "| a | held | gain: +2.0 | inconclusive | gain: +0.1 | Held when x > 1. [rule differs in B] |" in md
    assert "| b | held | (no effect recorded) b reason \\| with a bar | — | — | Held when x > 1. |" in md
    assert md.count("\n| c | — | — | error |") == 1


def test_stability_table_marks_stable_and_flips(tmp_path):
    runs = []
    for t, s, verdicts in ((1, 0, ("held", "held", "held")), (1, 1, ("held", "not held", "held")),
                           (2, 0, ("held", "held", "error")), (2, 1, ("held", "held", "held"))):
        folder = _run(tmp_path / f"t{t}s{s}", [_card(c, v) for c, v in zip("abc", verdicts)], threads=t, seed=s,
                      cpu_cores_available=2)
        run = load_run(str(folder))
        runs.append((f"threads {t}, seed {s}", run))
    md = stability_table(runs, title="S", command="python tools/lab_stability.py --md x")
    assert "Command: `python tools/lab_stability.py --md x`" in md
    assert "Device: cpu (x86_64), 2 CPU core(s) available; torch 2.9" in md
    assert "| card | threads 1, seed 0 | threads 1, seed 1 | threads 2, seed 0 | threads 2, seed 1 | across runs |" in md
    assert "| a | held | held | held | held | stable |" in md
    assert "| b | held | not held | held | held | flips |" in md
    assert "| c | held | held | error | held | error |" in md
    assert md.rstrip().endswith("3 card(s): 1 stable, 1 flips, 1 error.")


def test_generated_files_never_replace_a_hand_written_one(tmp_path):
    mine = tmp_path / "notes.md"
    mine.write_text("# my notes\n")
    with pytest.raises(UsageError, match="was not generated from results.json; pass --overwrite"):
        write_generated(mine, GENERATED_MARK + " x -->\nnew\n")
    assert mine.read_text() == "# my notes\n"
    gen = tmp_path / "gen.md"
    write_generated(gen, GENERATED_MARK + " x -->\nv1\n")
    write_generated(gen, GENERATED_MARK + " x -->\nv2\n")  # its own file: replaced
    assert gen.read_text().endswith("v2\n")
    write_generated(mine, "forced\n", overwrite=True)
    assert mine.read_text() == "forced\n"


def _tool(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "tools" / name), *args], capture_output=True, text=True,
                          timeout=300)


def test_results_table_tool_writes_the_page(tmp_path):
    run = _run(tmp_path / "r1", [_card("a", "held", effect="+2.0"), _card("b", "not held")])
    out = tmp_path / "lab_x.md"
    r = _tool("lab_results_table.py", str(run / "results.json"), "--only", "a", "--out", str(out), "--title", "X")
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "# X" in text and "| a | held | gain: +2.0 |" in text and "| b |" not in text


def test_stability_tool_from_existing_runs(tmp_path):
    folders = [str(_run(tmp_path / f"t{t}", [_card("a", v)], threads=t)) for t, v in ((1, "held"), (2, "not held"))]
    out = tmp_path / "stab.md"
    r = _tool("lab_stability.py", "--from-runs", *folders, "--md", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert "| a | held | not held | flips |" in text and "--from-runs" in text


@pytest.mark.parametrize(
    ("tool", "args", "needle"),
    [
        ("lab_results_table.py", ["{tmp}/missing"], "run '{tmp}/missing' not found"),
        ("lab_results_table.py", ["{tmp}/r1", "--only", "zzz"], "card 'zzz' is in none of the runs"),
        ("lab_results_table.py", ["{tmp}/r1", "--out", "{tmp}/mine.md"], "was not generated from results.json"),
        ("lab_results_table.py", ["{tmp}/r1", "--out", "{tmp}/no/dir.md"], "does not exist"),
        ("lab_results_table.py", ["{tmp}/r1", "--out", "{tmp}"], "is a directory"),
        ("lab_stability.py", ["--from-runs", "{tmp}/r1", "--md", "{tmp}/mine.md"], "was not generated"),
        ("lab_stability.py", ["--from-runs", "{tmp}/nope", "--md", "{tmp}/s.md"], "run '{tmp}/nope' not found"),
        ("lab_stability.py", ["--threads", "0", "--md", "{tmp}/s.md"], "--threads must be positive"),
    ],
)
def test_tools_bad_input_one_line_exit_2(tmp_path, tool, args, needle):
    _run(tmp_path / "r1", [_card("a", "held")])
    (tmp_path / "mine.md").write_text("hand written\n")
    r = _tool(tool, *[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle.format(tmp=tmp_path) in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert (tmp_path / "mine.md").read_text() == "hand written\n"


@pytest.mark.slow
def test_stability_tool_runs_two_small_cards_four_times(tmp_path):
    """The real thing on two quick cards: four lab runs (threads 1/2 x seeds 0/1) in subprocesses."""
    out = tmp_path / "stab.md"
    r = _tool("lab_stability.py", "--only", "tr-relu", "rl-dp", "--lab-dir", str(tmp_path / "lab"), "--md", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    for label in ("threads 1, seed 0", "threads 1, seed 1", "threads 2, seed 0", "threads 2, seed 1"):
        assert label in text
    assert text.count("\n| tr-relu |") == 1 and text.count("\n| rl-dp |") == 1
    assert len([p for p in (tmp_path / "lab").iterdir() if p.is_dir() and "stab-t" in p.name]) == 4
