"""Kill-and-resume: a training process is SIGKILLed (mid-epoch, or inside a checkpoint write);
``danlu train --resume`` finishes it, and the final weights equal an uninterrupted run's exactly.

All runs are separate single-threaded processes (CPU kernels are then deterministic).
"""

from __future__ import annotations

import json
import pathlib
import signal

import pytest
import torch
from train_testutil import KILL_CHILD, TINY, config_yaml, run_python

from danlu.train import load_checkpoint


@pytest.fixture(scope="module")
def cfg_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("kill")
    cfg = root / "cfg.yaml"
    cfg.write_text(config_yaml([*TINY, "loop.epochs=3", "checkpoint.every_steps=7", "loop.ema_decay=0.9",
                                "checkpoint.keep_last=3"]))
    (root / "child.py").write_text(KILL_CHILD)
    return root, cfg


@pytest.fixture(scope="module")
def setup(cfg_file):
    root, cfg = cfg_file
    run_python(["-m", "danlu", "train", str(cfg), "--out", str(root / "ref"), "--quiet"])
    return root, cfg


def _final(run: pathlib.Path) -> dict:
    return load_checkpoint(sorted((run / "checkpoints").glob("ckpt-*.pt"))[-1])


@pytest.mark.parametrize(("mode", "at"), [("mid_epoch", 50), ("during_save", 3)])
def test_sigkill_then_resume_equals_uninterrupted(setup, mode, at):
    root, cfg = setup
    out = root / mode
    proc = run_python([str(root / "child.py"), str(cfg), str(out), mode, str(at)], check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    if mode == "during_save":
        assert any(n.startswith(".ckpt-") for n in before), before  # the interrupted temp file
        assert "ckpt-00000021.pt" not in before  # the write that was cut never appeared
    resumed = run_python(["-m", "danlu", "train", str(cfg), "--out", str(out), "--resume", "--quiet"])
    assert "resumed from step" in resumed.stdout
    ref, got = _final(root / "ref"), _final(out)
    assert got["loop"] == ref["loop"]
    for key in ("model", "ema"):
        for k, v in ref[key].items():
            assert torch.equal(got[key][k], v), (key, k)
    for k, v in ref["optimizer"]["state"].items():
        assert torch.equal(got["optimizer"]["state"][k]["exp_avg"], v["exp_avg"])
    strip = [{k: v for k, v in json.loads(line).items() if k != "samples/s"}
             for line in (root / "ref" / "log.jsonl").read_text().splitlines()]
    mine = [{k: v for k, v in json.loads(line).items() if k != "samples/s"}
            for line in (out / "log.jsonl").read_text().splitlines()]
    assert mine == strip  # the log reads as if the run had never stopped
    assert json.loads((out / "metrics.json").read_text()) == json.loads((root / "ref" / "metrics.json").read_text())


def test_resume_from_corrupt_latest_is_refused_and_nothing_is_overwritten(cfg_file):
    root, cfg = cfg_file
    out = root / "corrupt"
    run_python(["-m", "danlu", "train", str(cfg), "loop.epochs=1", "--out", str(out), "--quiet"])
    ckpts = sorted((out / "checkpoints").glob("ckpt-*.pt"))
    latest = ckpts[-1]
    latest.write_bytes(latest.read_bytes()[:1000])
    snapshot = {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()}
    proc = run_python(["-m", "danlu", "train", str(cfg), "--out", str(out), "--resume", "--quiet"], check=False)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and "is truncated or corrupt" in err[0] and "loads fine: resume from it" in err[0], err
    assert {p.name: p.read_bytes() for p in (out / "checkpoints").iterdir()} == snapshot
    prev = ckpts[-2]
    run_python(["-m", "danlu", "train", str(cfg), "loop.epochs=1", "--out", str(out), "--resume", str(prev), "--quiet"])
