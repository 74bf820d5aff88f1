"""DDP parity: ``danlu train --nproc 2`` (torchrun, gloo, per-rank batch b) against one process with
batch 2b from the same seed: the weights agree to float tolerance, and the validation metrics the
2 ranks report (summed across ranks) equal the metrics of those weights on the whole split.
"""

from __future__ import annotations

import json

import torch
from torch import nn
from train_testutil import TINY, run_python

from danlu.data import load_dataset
from danlu.models import create_model
from danlu.train import TrainConfig, apply_overrides, load_checkpoint, train

COMMON = [*TINY, "optim.name=sgd", "optim.weight_decay=0", "schedule.name=constant", "loop.epochs=1",
          "model.args={depth: 2, width: 32}"]


def test_two_process_gloo_matches_single_process_with_double_batch(tmp_path):
    out = tmp_path / "ddp"
    run_python(["-m", "danlu", "train", *COMMON, "data.batch_size=16", "--out", str(out), "--quiet", "--nproc", "2"],
               timeout=400)
    ddp = load_checkpoint(sorted((out / "checkpoints").glob("ckpt-*.pt"))[-1])
    single = train(apply_overrides(TrainConfig(), [*COMMON, "data.batch_size=32", f"out_dir={tmp_path / 'one'}"]))
    assert ddp["loop"]["step"] == single.state.step > 0
    for k, v in single.model.state_dict().items():
        torch.testing.assert_close(ddp["model"][k], v, rtol=1e-4, atol=1e-5)
    moved = max((ddp["model"][k] - v).abs().max().item() for k, v in
                create_model("mlp", in_features=64, num_classes=10, depth=2, width=32).state_dict().items())
    assert moved > 1e-3  # the comparison is between trained weights, not two initialisations

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["processes"] == 2
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=32)
    model.load_state_dict(ddp["model"])
    x, y = load_dataset("digits", seed=0, flatten=True).val.tensors
    with torch.no_grad():
        logits = model.eval()(x)
    assert metrics["val_accuracy"] == (logits.argmax(1) == y).sum().item() / len(y)
    assert abs(metrics["val_loss"] - nn.functional.cross_entropy(logits, y).item()) < 1e-5
