"""``danlu train --out DIR`` never writes over a user's files, ``--resume`` with nothing to resume is
an error (``--resume auto``: resume if present), a checkpoint of another model is one line naming
the weights, and a config folder "is a directory". Issue 22."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_testutil import assert_one_line, danlu

from danlu.errors import DanluError
from danlu.train.run_dir import AUTO, NEWEST, describe, plan_run

TINY = ["data.name=digits", "data.args={flatten: true}", "data.batch_size=64", "model.name=mlp",
        "model.args={depth: 2, width: 16}", "loop.epochs=1", "log.every_steps=5", "--quiet"]


# ------------------------------------------------------------------ the decision table (no training)
def _run_folder(p, *, ckpt=False, log=True, metrics=False):
    p.mkdir(parents=True, exist_ok=True)
    (p / "config.yaml").write_text("seed: 0\n")
    if log:
        (p / "log.jsonl").write_text(json.dumps({"kind": "step", "step": 5}) + "\n")
    if metrics:
        (p / "metrics.json").write_text("{}\n")
    if ckpt:
        (p / "checkpoints").mkdir()
        (p / "checkpoints" / "ckpt-00000010.pt").write_bytes(b"x")
    return p


def test_describe_and_plan_table(tmp_path):
    missing, empty = tmp_path / "missing", tmp_path / "empty"
    empty.mkdir()
    run = _run_folder(tmp_path / "run", ckpt=True, metrics=True)
    started = _run_folder(tmp_path / "started")
    user = tmp_path / "user"
    user.mkdir()
    (user / "metrics.json").write_text('{"mine": 1}')
    (user / "config.yaml").write_text("mine: true\n")
    assert [describe(p)[0] for p in (missing, empty, run, started, user)] == \
        ["missing", "empty", "run", "started", "foreign"]
    for folder in (missing, empty):
        assert plan_run(folder, None) is None and plan_run(folder, AUTO) is None
        with pytest.raises(DanluError, match="nothing to resume; drop --resume"):
            plan_run(folder, NEWEST)
    assert plan_run(run, NEWEST) is True and plan_run(run, AUTO) is True
    with pytest.raises(DanluError, match="already holds checkpoints; pass --resume"):
        plan_run(run, None)
    with pytest.raises(DanluError, match="stopped before its first checkpoint; pass --resume auto"):
        plan_run(started, None)
    with pytest.raises(DanluError, match="holds no checkpoint, so there is nothing to resume"):
        plan_run(started, NEWEST)
    assert plan_run(started, AUTO) is None and (started / "log.jsonl").read_text() == ""  # danlu's own log cleared
    for resume in (None, NEWEST, AUTO, str(tmp_path / "some.pt")):
        with pytest.raises(DanluError, match=r"not a danlu run folder \(it holds config.yaml, metrics.json; its "
                                             r"config.yaml and metrics.json would be overwritten\)"):
            plan_run(user, resume)
    assert plan_run(user, None, is_main=False) is None  # other ranks only follow rank 0
    assert (user / "metrics.json").read_text() == '{"mine": 1}'
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(DanluError, match="is a file, not a folder"):
        plan_run(f, None)


# ------------------------------------------------------------------ through the CLI
def test_users_folder_is_refused_and_untouched(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "metrics.json").write_text('{"accuracy": 0.99}')
    (out / "config.yaml").write_text("my: config\n")
    proc = danlu("train", *TINY, "--out", str(out))
    assert_one_line(proc, "not a danlu run folder", "metrics.json would be overwritten")
    assert (out / "metrics.json").read_text() == '{"accuracy": 0.99}'
    assert sorted(os.listdir(out)) == ["config.yaml", "metrics.json"]  # no log.jsonl appended or created


@pytest.mark.parametrize("exists", [False, True])
def test_resume_with_nothing_to_resume_is_an_error(tmp_path, exists):
    out = tmp_path / "run"
    if exists:
        out.mkdir()
    proc = danlu("train", *TINY, "--out", str(out), "--resume")
    assert_one_line(proc, "nothing to resume", "--resume auto")
    assert os.listdir(tmp_path) == (["run"] if exists else [])


def test_resume_auto_starts_then_resumes_and_other_model_is_one_line(tmp_path, capsys):
    from danlu.cli import main  # in-process: three short trainings without three torch start-ups

    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--resume", "auto"]) == 0
    assert "resumed" not in capsys.readouterr().out and (out / "metrics.json").is_file()
    assert main(["train", *TINY, "loop.epochs=2", "--out", str(out), "--resume", "auto"]) == 0
    assert "resumed from step" in capsys.readouterr().out
    before = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    assert main(["train", *TINY, "model.args={depth: 3, width: 24}", "loop.epochs=3", "--out", str(out),
                 "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("danlu train: error: the checkpoint's model weights do not fit"), err
    assert "shape (checkpoint vs now)" in err[0] and "[16, 64] vs [24, 64]" in err[0] and "missing" in err[0]
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == before  # nothing lost


def test_config_folder_is_a_directory(tmp_path):
    (tmp_path / "a.yaml").write_text("seed: 1\n")
    line = assert_one_line(danlu("train", str(tmp_path) + "/", "--out", str(tmp_path / "o")), "is a directory")
    assert "a.yaml" in line  # names a config file that is there


@pytest.mark.slow
def test_ctrl_c_during_nproc_2_start_up_is_one_line(tmp_path):
    """Ctrl-C (SIGINT to the terminal's process group) while 2 DDP workers start: one line, exit 130,
    no traceback from the workers (gloo "Connection closed by peer"), and no worker left running."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for delay in (4.0, 8.0):  # during the launcher's start, then while the workers import and join
        out = tmp_path / f"run{delay:g}"
        p = subprocess.Popen([sys.executable, "-m", "danlu", "train", *TINY, "loop.epochs=50", "--out", str(out),
                              "--nproc", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                             start_new_session=True)
        time.sleep(delay)
        os.killpg(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=120)
        err = err.decode()
        assert p.returncode == 130, err
        assert err.strip().splitlines() == ["danlu train: interrupted"], err
        left = subprocess.run(["pgrep", "-f", str(out)], capture_output=True, text=True).stdout.split()
        assert left == [], f"workers still running: {left}"
