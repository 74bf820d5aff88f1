"""The lab runner and report: errors are contained, verdicts come through, files are written."""

from __future__ import annotations

import json

import pytest
import torch

from danlu.errors import UsageError
from danlu.lab import CardResult
from danlu.lab.core import CardInfo
from danlu.lab.report import write_report
from danlu.lab.runner import check_out_dir, run_card, run_lab


def _info(card_id: str, fn, **kw) -> CardInfo:
    return CardInfo(id=card_id, title=card_id.title(), claim="A claim.", source="test", area="test",
                    quick={"n": 3}, full={"n": 30}, slow=False, fn=fn, **kw)


def _good(ctx):
    from danlu.plotting import subplots

    fig, ax = subplots()
    ax[0][0].plot(range(ctx.budget["n"]))
    ctx.figure("line", fig, caption="a line")
    return CardResult(table=[{"n": ctx.budget["n"], "x": float("nan")}], held=ctx.budget["n"] > 10,
                      reason=f"n={ctx.budget['n']}")


def _boom(ctx):
    raise RuntimeError("kaboom")


def _malformed(ctx):
    return CardResult(table=[], held=True, reason="no numbers")


def test_budget_modes_merge_full_over_quick():
    info = _info("a", _good)
    assert info.budget("quick") == {"n": 3} and info.budget("full") == {"n": 30}
    with pytest.raises(Exception, match="unknown lab mode"):
        info.budget("medium")


def test_verdict_follows_the_numbers(tmp_path):
    quick = run_card(_info("a", _good), device=torch.device("cpu"), seed=0, mode="quick", figure_dir=tmp_path)
    full = run_card(_info("a", _good), device=torch.device("cpu"), seed=0, mode="full", figure_dir=tmp_path)
    assert (quick.verdict, full.verdict) == ("not held", "held")
    assert quick.figures == ["a-line.png"] and quick.captions == {"a-line.png": "a line"}


def test_errors_and_malformed_results_are_reported_not_raised(tmp_path):
    runs = run_lab([_info("boom", _boom), _info("bad", _malformed), _info("good", _good)],
                   out=tmp_path, device=torch.device("cpu"), seed=7, mode="quick")
    assert [r.verdict for r in runs] == ["error", "error", "not held"]
    assert "kaboom" in runs[0].reason and "Traceback" in runs[0].error
    assert "empty or malformed table" in runs[1].reason
    results = json.loads((tmp_path / "results.json").read_text())  # strict JSON: NaN became null
    assert results["meta"]["seed"] == 7 and [c["id"] for c in results["cards"]] == ["boom", "bad", "good"]
    assert results["cards"][2]["table"][0]["x"] is None
    page = (tmp_path / "index.html").read_text()
    for needle in ("kaboom", "id='good'", "figures/good-line.png", "A claim.", "not held"):
        assert needle in page
    assert (tmp_path / "figures" / "good-line.png").exists()


def test_report_escapes_html():
    results = {"meta": {"mode": "quick", "seed": 0, "total_runtime_s": 1.0, "device": "cpu", "device_name": "x",
                        "torch": "t", "python": "p", "danlu_version": "v", "created": "now"},
               "cards": [{"id": "x", "title": "<script>", "claim": "a & b", "source": "s", "area": "a",
                          "verdict": "held", "reason": "<b>", "table": [{"k": "<i>"}], "figures": [],
                          "runtime_s": 0.1, "device": "cpu", "seed": 0, "mode": "quick", "budget": {}}]}
    page = write_report(results)
    assert "<script>" not in page and "&lt;script&gt;" in page and "a &amp; b" in page


def test_unwritable_out_dir_is_a_usage_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="not a writable directory"):
        check_out_dir(blocker / "sub")


def _rule(gain: float, margin: float = 1.0) -> bool | None:
    """Held when the whole 95% interval of the accuracy gain clears 1 point."""
    return gain > margin


def _card_with_rule_and_effect(ctx):
    from danlu.lab.evidence import estimate

    est = estimate([3.0, 4.0, 5.0, 4.0, 4.5])
    return CardResult(table=[{"arm": "a", "acc": 0.9}], held=_rule(est.lo), reason="gain measured",
                      effects={"accuracy gain": (est, est.describe(unit=" points")),
                               "one seed": estimate([1.0])})


def test_report_shows_rule_effect_interval_and_the_other_mode(tmp_path):
    info = _info("ruled", _card_with_rule_and_effect, rule=_rule)
    related = {"ruled": {"full": {"run": "20260101-000000-full-all", "verdict": "not held",
                                  "effects": {"accuracy gain": {"text": "+0.20 ± 0.10 points"}}}}}
    run_lab([info], out=tmp_path, device=torch.device("cpu"), seed=0, mode="quick", related=related)
    res = json.loads((tmp_path / "results.json").read_text())
    card = res["cards"][0]
    assert card["rule"] == "Held when the whole 95% interval of the accuracy gain clears 1 point."
    assert card["effects"]["one seed"]["hi"] == "inf"  # one sample: no interval, strict JSON
    page = (tmp_path / "index.html").read_text()
    assert "Rule, fixed before the run.</b> Held when the whole 95% interval" in page
    gain = card["effects"]["accuracy gain"]
    assert f"+4.10 ± {(gain['hi'] - gain['lo']) / 2:.2f} points (95% CI, 5 seeds)" in page
    assert f"interval [{gain['lo']:.4g}, {gain['hi']:.4g}], n=5" in page
    assert "interval [−∞, ∞], n=1" in page
    # the same card's newest full run, with a link to it, in the section and in the summary table
    assert page.count("../20260101-000000-full-all/index.html#ruled") == 2
    assert "+0.20 ± 0.10 points" in page and "badge notheld" in page


def test_terminal_lines_wrap_reasons_without_cutting_and_count_verdicts():
    from rich.console import Console

    from danlu.lab.progress import card_line, tally_line, timing_table, wrap_reason
    from danlu.lab.runner import CardRun

    reason = " ".join(f"word{i}" for i in range(80))  # ~560 characters
    lines = wrap_reason(reason, first=50, indent=10, width=100)
    assert all(len(line) <= 100 for line in lines) and len(lines[0]) <= 50
    assert " ".join(w for line in lines for w in line.split()) == reason  # nothing dropped
    run = CardRun(info=_info("a", _good), verdict="held", reason=reason, runtime_s=2.5)
    console = Console(width=100, record=True, force_terminal=False)
    console.print(card_line(run, 3, 31, width=100))
    text = console.export_text()
    assert text.startswith("  [ 3/31] held ") and "2.5 s" in text and "word79" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    runs = [run, CardRun(info=_info("b", _good), verdict="not held", runtime_s=5.0),
            CardRun(info=_info("c", _good), verdict="error", runtime_s=1.0)]
    assert tally_line(runs) == "3 card(s): 1 held · 1 not held · 0 inconclusive · 1 error"
    console.print(timing_table(runs))
    table = console.export_text()
    assert table.index("│ b ") < table.index("│ a ") < table.index("│ c ") and "8.5 s" in table


@pytest.mark.parametrize(("cores", "env", "expected"), [(1, None, 1), (2, None, 1), (3, None, 1), (8, None, 1),
                                                        (64, None, 1), (64, "3", 3), (2, "junk", 1)])
def test_default_threads_is_one_whatever_the_core_count(monkeypatch, cores, env, expected):
    from danlu.lab import threads

    monkeypatch.setattr(threads, "available_cores", lambda: cores)
    if env is None:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    else:
        monkeypatch.setenv("OMP_NUM_THREADS", env)
    assert threads.default_threads() == expected


def test_prepare_keeps_what_the_user_set(monkeypatch):
    from danlu.lab import threads

    for var in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.setenv("MKL_NUM_THREADS", "7")
    threads.prepare(2)
    import os

    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE" and os.environ["MKL_NUM_THREADS"] == "7"
    assert os.environ["OMP_NUM_THREADS"] == "2" and os.environ["OPENBLAS_NUM_THREADS"] == "2"
    assert threads.thread_report()["omp_wait_policy_effect"].startswith("torch was imported before")
    with pytest.raises(UsageError, match="--threads must be a positive integer"):
        threads.prepare(0)


def test_a_card_that_changes_torch_threads_does_not_leak_them(tmp_path):
    before = torch.get_num_threads()

    def greedy(ctx):
        torch.set_num_threads(before + 1)
        return CardResult(table=[{"t": torch.get_num_threads()}], held=True, reason="changed threads")

    run = run_card(_info("greedy", greedy), device=torch.device("cpu"), seed=0, mode="quick", figure_dir=tmp_path)
    assert run.table == [{"t": before + 1}] and torch.get_num_threads() == before
