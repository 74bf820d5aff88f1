"""token_classification end to end through `danlu train` with the registered `tiny_lm` model.

Reference: the test accuracy the run reports equals the accuracy recomputed by hand from the
reloaded model (load_run) over the labelled positions (target != -100) of the test split.
"""

from __future__ import annotations

import json
import pathlib

import pytest
import torch

from danlu.cli import main
from danlu.models import create_model
from danlu.train.load_run import load_run

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_tiny_lm_is_the_attention_tiny_lm():
    from danlu.attention.models import TinyCausalLM, TinyLMConfig

    torch.manual_seed(0)
    a = create_model("tiny_lm", num_classes=12, dim=32, depth=1)
    torch.manual_seed(0)
    b = TinyCausalLM(TinyLMConfig(vocab=12, dim=32, depth=1))
    x = torch.randint(0, 12, (3, 10))
    assert torch.equal(a(x), b(x)) and a(x).shape == (3, 10, 12)


@pytest.mark.parametrize("kind", ["attention", "mamba"])
def test_copy_config_trains_and_reports_the_true_accuracy(tmp_path, kind):
    out = tmp_path / kind
    rc = main(["train", str(ROOT / "configs" / "copy_tiny_lm.yaml"), f"model.args.kind={kind}", "model.args.dim=32",
               "data.args.n=400", "loop.max_steps=12", "loop.epochs=3", "log.progress=false", "--out", str(out)])
    assert rc == 0
    reported = json.loads((out / "metrics.json").read_text())["test_accuracy"]
    run = load_run(out, checkpoint="last")
    x, y = run.splits.test.tensors
    with torch.no_grad():
        pred = run.model(x).argmax(-1)
    keep = y != -100
    assert keep.any() and not keep.all()
    assert reported == pytest.approx((pred[keep] == y[keep]).float().mean().item(), abs=1e-6)
