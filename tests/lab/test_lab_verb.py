"""`danlu lab` from the command line: run folders, the terminal summary, --compare, --threads, bad inputs.

Runs use small fake cards in-process (the real cards are tested in test_cards.py); every bad
input is checked through a subprocess: exit 2, one line on stderr, no traceback.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from danlu.lab import CardResult
from danlu.lab.core import CardInfo
from danlu.lab.evidence import Estimate


def danlu(*args: str, cwd=None, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "danlu", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300, env=env)


def _fake(card_id: str, held: bool | None, effect: float | None = None, fail: bool = False) -> CardInfo:
    def fn(ctx):
        if fail:
            raise RuntimeError("kaboom")
        effects = {"gain": (Estimate.of(effect, 0.5), f"{effect:+.1f} ± 0.5 points")} if effect is not None else {}
        return CardResult(table=[{"seed": ctx.seed}], held=held, effects=effects,
                          reason=f"{card_id}: a reason long enough to need wrapping " + "and more words " * 12)

    return CardInfo(id=card_id, title=card_id.upper(), claim="A claim.", source="test", area="fake",
                    quick={}, full={}, slow=False, fn=fn)


@pytest.fixture
def fake_cards(monkeypatch):
    """Replace the card registry with three fast fake cards (the real cards are not imported)."""
    import danlu.lab.cards
    from danlu.lab.core import CARDS

    cards = {"f-held": _fake("f-held", True, 2.0), "f-not": _fake("f-not", False, -1.0), "f-inc": _fake("f-inc", None)}
    monkeypatch.setattr(danlu.lab.cards, "_loaded", True)
    monkeypatch.setattr(CARDS, "_entries", cards)
    return cards


def _main(*args: str) -> int:
    from danlu.cli import main

    return main(["lab", *args])


def test_each_run_has_its_own_folder_and_the_terminal_says_where(tmp_path, fake_cards, capsys):
    out = tmp_path / "lab"
    assert _main("--out", str(out), "--threads", "1") == 0
    first = capsys.readouterr().out
    assert _main("--only", "f-not", "--out", str(out), "--seed", "2", "--tag", "again", "--threads", "1") == 0
    second = capsys.readouterr().out
    runs = sorted(p for p in out.iterdir() if p.is_dir() and not p.is_symlink())
    assert [p.name.split("-", 2)[2] for p in runs] == ["quick-all", "quick-f-not-s2-again"]
    full = json.loads((runs[0] / "results.json").read_text())
    assert [c["id"] for c in full["cards"]] == ["f-held", "f-inc", "f-not"]  # not replaced by the subset
    sub = json.loads((runs[1] / "results.json").read_text())
    assert sub["meta"]["seed"] == 2 and sub["meta"]["status"] == "complete" and sub["meta"]["threads"] == 1
    assert sub["meta"]["command"] == ("danlu lab --only f-not --quick --seed 2 --device cpu --threads 1 "
                                      "--tag again")
    # the terminal: per-card lines with progress and time, wrapped reasons, a timing table, the total, the path
    assert "[1/3] held" in first and "[3/3] not held" in first
    assert "time per card (slowest first)" in first
    assert "3 card(s): 1 held · 1 not held · 1 inconclusive · 0 error" in first
    assert f"report: {(runs[0] / 'index.html').resolve()}" in first
    assert f"report: {(runs[1] / 'index.html').resolve()}" in second
    assert f"all runs: {(out / 'index.html').resolve()}" in second
    assert "and more words and more words" in first  # the reason is wrapped, not cut
    assert (out / "latest.txt").read_text().strip() == runs[1].name


def test_a_users_index_html_in_out_is_left_alone_and_the_lab_says_so(tmp_path, fake_cards, capsys):
    (tmp_path / "index.html").write_text("mine")
    assert _main("--only", "f-held", "--out", str(tmp_path), "--threads", "1") == 0
    out = capsys.readouterr().out
    assert (tmp_path / "index.html").read_text() == "mine"
    assert "note:" in out and "danlu-runs.html" in out.replace("\n", "")
    assert (tmp_path / "danlu-runs.html").exists()


def test_an_error_card_gives_exit_1_and_the_error_total(tmp_path, fake_cards, monkeypatch, capsys):
    from danlu.lab.core import CARDS

    monkeypatch.setitem(CARDS._entries, "f-boom", _fake("f-boom", None, fail=True))
    assert _main("--only", "f-held", "f-boom", "--out", str(tmp_path), "--threads", "1") == 1
    out = capsys.readouterr().out
    assert "2 card(s): 1 held · 0 not held · 0 inconclusive · 1 error" in out and "f-boom" in out


def test_compare_two_runs_terminal_and_page(tmp_path, fake_cards, monkeypatch, capsys):
    from danlu.lab.core import CARDS

    out = tmp_path / "lab"
    assert _main("--out", str(out), "--threads", "1", "--tag", "a") == 0
    monkeypatch.setitem(CARDS._entries, "f-held", _fake("f-held", False, -3.0))  # the claim flips in run B
    assert _main("--out", str(out), "--threads", "1", "--tag", "b") == 0
    a, b = sorted(p.name for p in out.iterdir() if p.is_dir() and not p.is_symlink() and p.name != "compare")
    capsys.readouterr()
    assert _main("--compare", str(out / a), str(out / b / "results.json"), "--out", str(out)) == 0
    text = capsys.readouterr().out
    assert "verdict changed: held -> not held" in text and "3 cards: 2 same, 1 verdict changed" in text
    page = out / "compare" / f"{a}__vs__{b}.html"
    assert page.exists() and f"compare page: {page.resolve()}" in text.replace("\n", "")
    html = page.read_text()
    assert f"../{a}/index.html#f-held" in html and "+2.0 ± 0.5 points" in html and "-3.0 ± 0.5 points" in html
    assert f"compare/{page.name}" in (out / "index.html").read_text()
    # run ids under --out and "latest" work too
    assert _main("--compare", a, "latest", "--out", str(out), "--only", "f-held") == 0


def test_threads_option_sets_torch_threads_before_torch_loads():
    """Through a subprocess, so the OpenMP wait policy can be set before torch (libgomp) loads."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "MKL_", "OPENBLAS_"))}
    code = ("import json, sys; from danlu.cli import main; assert 'torch' not in sys.modules; "
            "rc = main(['lab', '--list', '--only', 'tr-relu', '--threads', '1']); "
            "from danlu.lab.threads import thread_report; print('REPORT', json.dumps(thread_report()))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout.split("REPORT", 1)[1])
    assert rep["threads"] == 1 and rep["omp_wait_policy"] == "PASSIVE"
    assert rep["omp_wait_policy_effect"] == "set before torch was imported"


def _write_results(path: pathlib.Path, **meta) -> pathlib.Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "results.json").write_text(json.dumps({"meta": {"mode": "quick", **meta}, "cards": [
        {"id": "x", "title": "X", "verdict": "held", "effects": {}, "reason": "r", "runtime_s": 1.0}]}))
    return path


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--threads", "0"], "--threads must be a positive integer, got '0'"),
        (["--threads", "many"], "--threads must be a positive integer, got 'many'"),
        (["--tag", "a/b"], "--tag 'a/b' must be"),
        (["--compare", "{tmp}/nope", "{tmp}/ok"], "run '{tmp}/nope' not found"),
        (["--compare", "{tmp}/empty", "{tmp}/ok"], "run folder '{tmp}/empty' has no results.json"),
        (["--compare", "{tmp}/bad.json", "{tmp}/ok"], "is not a danlu lab results.json"),
        (["--compare", "{tmp}/notlab.json", "{tmp}/ok"], "is not a danlu lab results.json"),
        (["--compare", "{tmp}/ok", "{tmp}/ok/results.json"], "RUN_A and RUN_B are the same run"),
        (["--compare", "{tmp}/ok", "{tmp}/ok2", "--only", "zzz"], "card 'zzz' is in neither run"),
        (["--compare", "{tmp}/ok", "{tmp}/ok2", "--list"], "--compare and --list do not go together"),
        (["--compare", "{tmp}/ok", "{tmp}/ok2", "--out", "{tmp}/file/x"], "not a writable directory"),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path, args, needle):
    (tmp_path / "empty").mkdir()
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "notlab.json").write_text('{"a": 1}')
    (tmp_path / "file").write_text("")
    _write_results(tmp_path / "ok", run_id="ok")
    _write_results(tmp_path / "ok2", run_id="ok2")
    r = danlu("lab", *[a.format(tmp=tmp_path) for a in args], "--out", str(tmp_path / "lab")) \
        if "--out" not in args else danlu("lab", *[a.format(tmp=tmp_path) for a in args])
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert needle.format(tmp=tmp_path) in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_help_states_what_the_quick_budget_costs():
    r = danlu("lab", "--help")
    assert r.returncode == 0 and "--compare RUN_A RUN_B" in r.stdout and "--threads N" in r.stdout
    assert "Cost: quick:" in r.stdout and "CPU cores" in r.stdout


def test_compare_classifies_each_card():
    """Library level: verdict changed, effect moved (intervals apart), same, one-sided, rule changed."""
    from danlu.lab.compare import LoadedRun, compare_runs

    def card(cid, verdict, lo=None, hi=None, rule="r"):
        eff = {"gain": {"mean": 0.0, "lo": lo, "hi": hi, "n": 3, "text": "t"}} if lo is not None else {}
        return {"id": cid, "verdict": verdict, "effects": eff, "rule": rule}

    a = LoadedRun("a", pathlib.Path("/a"), {"seed": 0, "threads": 1}, {
        "flip": card("flip", "held"), "moved": card("moved", "held", 1.0, 2.0), "same": card("same", "held", 1.0, 2.0),
        "inf": card("inf", "held", "-inf", "inf"), "onlya": card("onlya", "held"), "rule": card("rule", "held")})
    b = LoadedRun("b", pathlib.Path("/b"), {"seed": 1, "threads": 1}, {
        "flip": card("flip", "not held"), "moved": card("moved", "held", 3.0, 4.0), "same": card("same", "held", 1.9, 3),
        "inf": card("inf", "held", 5.0, 6.0), "onlyb": card("onlyb", "error"), "rule": card("rule", "held", rule="r2")})
    cmp = compare_runs(a, b)
    got = {d.id: d.change for d in cmp.cards}
    assert got == {"flip": "verdict changed: held -> not held", "moved": "effect moved", "same": "same",
                   "inf": "same", "onlya": "only in A", "onlyb": "only in B", "rule": "same"}
    assert [d.id for d in cmp.cards] == ["flip", "moved", "same", "inf", "onlya", "rule", "onlyb"]
    assert any("rule differs" in n for n in next(d for d in cmp.cards if d.id == "rule").effect_notes)
    assert ("seed", "0", "1", True) in cmp.meta_rows() and ("threads", "1", "1", False) in cmp.meta_rows()
    assert cmp.summary() == "7 cards: 3 same, 1 verdict changed, 1 effect moved, 1 only in A, 1 only in B"


def test_ctrl_c_keeps_what_was_measured_and_says_where(tmp_path, fake_cards, monkeypatch, capsys):
    from danlu.lab.core import CARDS

    def stop(ctx):
        raise KeyboardInterrupt

    monkeypatch.setitem(CARDS._entries, "f-stop", CardInfo(id="f-stop", title="S", claim="A claim.", source="t",
                                                           area="fake", quick={}, full={}, slow=False, fn=stop))
    assert _main("--only", "f-held", "f-stop", "f-not", "--out", str(tmp_path), "--threads", "1") == 130
    captured = capsys.readouterr()
    assert "interrupted" in captured.err and "report: " in captured.out
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir() and not p.is_symlink()]
    res = json.loads((run_dir / "results.json").read_text())
    assert res["meta"]["status"] == "interrupted" and [c["id"] for c in res["cards"]] == ["f-held"]
    assert run_dir.name in (tmp_path / "index.html").read_text()
