"""``danlu train`` with the adversarial task: robust_accuracy in the metrics, and an ANT run resumed
from a mid-run checkpoint ends with the same weights as the run that never stopped."""

from __future__ import annotations

import json
import shutil

import torch

from danlu.cli import main

BASE = ["data.name=digits", "model.name=mlp", "model.args={depth: 1, width: 16}", "data.batch_size=32",
        "log.progress=false", "--quiet"]  # digits as (1, 8, 8) images; the MLP flattens them


def test_adversarial_run_reports_clean_and_robust_accuracy(tmp_path):
    out = tmp_path / "adv"
    assert main(["train", *BASE, "task.name=adversarial", "task.args={attack: pgd, eps: 0.1, steps: 2}",
                 "loop.max_steps=8", "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert 0 <= m["test_robust_accuracy"] <= m["test_accuracy"]
    assert m["val_robust_accuracy"] < m["val_accuracy"]


def test_ant_run_resumes_bit_for_bit(tmp_path):
    args = [*BASE, "task.name=adversarial", "task.args={attack: ant, eps: 2.0, ratio: 0.5, eval_attack: none}",
            "loop.max_steps=8", "checkpoint.every_steps=4", "checkpoint.keep_last=5"]
    straight, resumed = tmp_path / "a", tmp_path / "b"
    assert main(["train", *args, "--out", str(straight)]) == 0
    shutil.copytree(straight, resumed)  # then forget everything after step 4
    for f in resumed.glob("checkpoints/*"):
        if f.name != "ckpt-00000004.pt":
            f.unlink()
    assert main(["train", *args, "--out", str(resumed), "--resume"]) == 0
    a = torch.load(straight / "checkpoints" / "ckpt-00000008.pt", weights_only=False)
    b = torch.load(resumed / "checkpoints" / "ckpt-00000008.pt", weights_only=False)
    for k, v in a["model"].items():
        assert torch.equal(v, b["model"][k]), k
    ga, gb = a["task"]["perturbation"]["generator"], b["task"]["perturbation"]["generator"]
    assert all(torch.equal(ga[k], gb[k]) for k in ga)
