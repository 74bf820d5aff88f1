"""``danlu eval corruption RUN_DIR``: clean accuracy equals the run's own test accuracy, the table's
mean is the mean of its cells, --plot/--json, and bad input -> one line, exit 2."""

from __future__ import annotations

import json
import sys

import pytest

sys.path.insert(0, str(__import__("pathlib").Path(__file__).parents[1] / "cli"))
from cli_testutil import assert_one_line, danlu, in_process  # noqa: E402

from danlu.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "cnn"
    code = main(["train", "loop.max_steps=30", "loop.epochs=1", "model.args={widths: [4, 8], norm: none}",
                 "log.progress=false", "--out", str(out), "--quiet"])
    assert code == 0
    return out


def test_json_table_matches_the_runs_own_evaluation(run_dir, capsys):
    res = in_process(capsys, "eval", "corruption", str(run_dir), "--json", "--only", "fog,rotate,gaussian_noise")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert out["clean_accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)  # the trainer's own number
    cells = [a for r in out["per_corruption"].values() for a in r["severity"].values()]
    assert len(cells) == 15
    assert out["mean_corruption_accuracy"] == pytest.approx(sum(cells) / 15)
    assert list(out["per_corruption"]) == ["fog", "rotate", "gaussian_noise"]  # the order asked for
    assert out["per_corruption"]["fog"]["category"] == "weather"


def test_text_table_and_plot(run_dir, tmp_path, capsys):
    png = tmp_path / "c.png"
    res = in_process(capsys, "eval", "corruption", str(run_dir), "--only", "contrast", "--plot", str(png))
    assert res.returncode == 0, res.stderr
    assert "mean corruption accuracy" in res.stdout and "contrast" in res.stdout
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = in_process(capsys, "eval", "corruption", str(run_dir), "--only", "contrast", "--plot", str(png))
    assert again.returncode == 2 and "--overwrite" in again.stderr  # never overwrites without asking
    ok = in_process(capsys, "eval", "corruption", str(run_dir), "--only", "contrast", "--plot", str(png), "--overwrite")
    assert ok.returncode == 0


def test_bad_inputs_give_one_line(run_dir, tmp_path, capsys):
    assert_one_line(danlu("eval", "corruption", str(tmp_path)), "not a danlu run folder")  # subprocess
    assert_one_line(in_process(capsys, "eval", "corruption", str(run_dir), "--only", "snowy"),
                    "unknown corruption 'snowy'", "gaussian_noise")
    assert_one_line(in_process(capsys, "eval", "corruption", str(tmp_path / "nope")), "does not exist")
    assert_one_line(in_process(capsys, "eval", "corruption", str(run_dir), "--plot", str(tmp_path / "x.nope")),
                    "unknown figure format")


@pytest.mark.slow
def test_unknown_corruption_in_a_subprocess(run_dir):
    assert_one_line(danlu("eval", "corruption", str(run_dir), "--only", "snowy"),
                    "unknown corruption 'snowy'", "gaussian_noise")
