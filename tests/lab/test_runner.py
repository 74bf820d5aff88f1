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
