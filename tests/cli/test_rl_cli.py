"""``danlu rl``: solve / worlds output, JSON shape, plots, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from danlu.cli import main
from danlu.rl import value_iteration


def _run(capsys, *argv):
    code = main(["rl", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_worlds_lists_presets(capsys):
    code, out, _ = _run(capsys, "worlds")
    assert code == 0 and "book-5x5" in out and "book-3x3" in out
    code, out, _ = _run(capsys, "worlds", "--json")
    assert {w["name"] for w in json.loads(out)} >= {"book-5x5", "book-5x5-forbidden10"}


def test_solve_json_matches_library(capsys):
    code, out, _ = _run(capsys, "solve", "--algo", "value_iteration", "--world", "book-5x5", "--json")
    assert code == 0
    d = json.loads(out)
    assert set(d) >= {"values", "policy", "iterations"}
    ref = value_iteration("book-5x5")
    np.testing.assert_allclose(d["values"], ref.values_grid(), atol=1e-6)
    assert d["policy"][3][2] == "stay" and d["iterations"] == ref.iterations


@pytest.mark.parametrize("algo", ["evaluate", "policy_iteration", "truncated_pi", "mc_basic", "mc_es", "mc_egreedy"])
def test_every_algorithm_runs(capsys, algo):
    code, out, _ = _run(capsys, "solve", "--algo", algo, "--world", "book-3x3", "--episodes", "200",
                        "--episode-length", "30", "--seed", "1", "--json")
    assert code == 0
    d = json.loads(out)
    assert np.array(d["values"]).shape == (3, 3) and len(d["policy"]) == 3


def test_world_file_gamma_and_plot(capsys, tmp_path):
    world = tmp_path / "w.json"
    world.write_text(json.dumps({"rows": 2, "cols": 3, "forbidden": [[0, 1]], "target": [1, 2]}))
    png = tmp_path / "p.png"
    code, out, _ = _run(capsys, "solve", "--algo", "policy_iteration", "--world-file", str(world),
                        "--gamma", "0.5", "--plot", str(png))
    assert code == 0 and "gamma=0.5" in out and "T" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_a_policy_file(capsys, tmp_path):
    pol = tmp_path / "pol.json"
    pol.write_text(json.dumps([["down", "down"], ["right", "stay"]]))
    code, out, _ = _run(capsys, "solve", "--algo", "evaluate", "--world", "book-2x2", "--policy", str(pol), "--json")
    assert code == 0
    np.testing.assert_allclose(json.loads(out)["values"], [[9, 10], [10, 10]], atol=1e-9)  # book chapter 2


@pytest.mark.parametrize("argv, msg", [
    (["--algo", "q_learning", "--world", "book-5x5"], "unknown algorithm 'q_learning'; valid: evaluate"),
    (["--algo", "value_iteration", "--world", "book-7x7"], "unknown world preset 'book-7x7'; valid: book-2x2"),
    (["--algo", "value_iteration"], "give --world PRESET or --world-file FILE"),
    (["--algo", "value_iteration", "--world", "book-5x5", "--world-file", "x.json"], "not both"),
    (["--algo", "value_iteration", "--world", "book-5x5", "--gamma", "1.0"], "--gamma must be in [0, 1)"),
    (["--algo", "mc_es", "--world", "book-5x5", "--episodes", "0"], "--episodes must be >= 1"),
    (["--algo", "mc_egreedy", "--world", "book-5x5", "--epsilon", "2"], "--epsilon must be in [0, 1]"),
    (["--algo", "value_iteration", "--world-file", "/no/such/world.json"], "No such file"),
    (["--algo", "value_iteration", "--world", "book-5x5", "--plot", "/no/such/dir/p.png"], "does not exist"),
    (["--algo", "value_iteration", "--world", "book-5x5", "--policy", "p.json"], "--policy only applies"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, msg):
    code, out, err = _run(capsys, "solve", *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("danlu rl: error: ")
    assert msg in err


def test_bad_world_file_is_one_line(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": 3, "cols": 3, "forbidden": [[2, 2]], "target": [2, 2]}))
    code, _, err = _run(capsys, "solve", "--algo", "value_iteration", "--world-file", str(bad))
    assert code == 2 and "inside a forbidden cell" in err and len(err.strip().splitlines()) == 1
    bad.write_text(json.dumps({"rows": 3, "cols": 3, "target": [3, 0]}))
    code, _, err = _run(capsys, "solve", "--algo", "value_iteration", "--world-file", str(bad))
    assert code == 2 and "off the 3x3 grid" in err
