"""``danlu train``: config resolution, --print-config, one-line errors (exit 2), resume from the stored config."""

from __future__ import annotations

import json

import pytest
import yaml
from train_testutil import TINY, run_python

from danlu.cli import main
from danlu.train import TrainConfig, apply_overrides, to_dict


def test_print_config_is_the_resolved_config(capsys, tmp_path):
    cfg_file = tmp_path / "c.yaml"
    cfg_file.write_text("optim:\n  lr: 0.01\n")
    assert main(["train", str(cfg_file), "--out", str(tmp_path / "o"), "loop.epochs=2", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    expected = apply_overrides(TrainConfig(), ["optim.lr=0.01", "loop.epochs=2", f"out_dir={tmp_path / 'o'}"])
    assert printed == to_dict(expected)


def test_overrides_without_config_file(capsys):
    assert main(["train", "optim.lr=0.5", "--print-config"]) == 0
    assert yaml.safe_load(capsys.readouterr().out)["optim"]["lr"] == 0.5


@pytest.mark.parametrize(("argv", "message"), [
    (["optim.lrr=1"], "unknown config key 'optim.lrr'; valid keys of section 'optim': name, lr, weight_decay, args"),
    (["loop.epochs=x"], "config field loop.epochs expects int, got 'x' (str)"),
    (["data.path=/no/such/file.pt"], "data.path: data file '/no/such/file.pt' does not exist"),
    (["missing.yaml"], "config file 'missing.yaml' does not exist"),
    (["--nproc", "0"], "--nproc must be >= 1, got 0"),
])
def test_bad_input_is_one_line_exit_2(capsys, argv, message):
    assert main(["train", *argv, "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"danlu train: error: {message}"]


def test_run_then_resume_with_stored_config(capsys, tmp_path):
    out = tmp_path / "run"
    assert main(["train", *TINY, "loop.epochs=1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "final metrics" in text and "val_accuracy" in text
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) >= {"val_loss", "val_accuracy", "test_loss", "test_accuracy", "steps"}
    # no CONFIG: the checkpoint's config is used, with the overrides applied on top
    assert main(["train", "--out", str(out), "--resume", "loop.epochs=2", "--quiet"]) == 0
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 2
    kinds = [json.loads(line)["kind"] for line in (out / "log.jsonl").read_text().splitlines()]
    assert kinds.count("epoch") == 2
    assert main(["train", *TINY, "--out", str(out), "--quiet"]) == 2  # refuses to start over on top of a run
    assert "already holds checkpoints; pass --resume" in capsys.readouterr().err


@pytest.mark.slow
def test_default_run_reaches_high_accuracy(tmp_path):
    """The embedded default (no config): a CNN on MNIST-5k, under about a minute on one CPU core."""
    proc = run_python(["-m", "danlu", "train", "--out", str(tmp_path / "d"), "--quiet"], timeout=600)
    assert "test_accuracy" in proc.stdout
    assert json.loads((tmp_path / "d" / "metrics.json").read_text())["test_accuracy"] > 0.9
