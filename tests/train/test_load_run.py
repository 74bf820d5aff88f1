"""load_run rebuilds a trained run's model with the checkpoint's weights (= the model training returned)."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.train import load_config, train
from danlu.train.load_run import load_run


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    cfg = load_config(None, ["data.name=digits", "model.name=mlp", "model.args={depth: 2, width: 16}",
                             "loop.epochs=1", "log.progress=false", f"out_dir={out}"])
    return out, train(cfg)


def test_weights_and_predictions_equal_the_trained_model(run):
    out, result = run
    loaded = load_run(out, checkpoint="last")
    x = loaded.splits.test.tensors[0][:32]
    with torch.no_grad():
        assert torch.equal(loaded.model(x), result.model.eval()(x))
    assert loaded.checkpoint.name.startswith("ckpt-")
    assert not loaded.model.training


def test_best_falls_back_and_errors_are_clear(run, tmp_path):
    out, _ = run
    assert load_run(out).checkpoint.exists()
    with pytest.raises(DanluError, match="does not exist"):
        load_run(tmp_path / "nope")
    with pytest.raises(DanluError, match="no config.yaml"):
        load_run(tmp_path)
    with pytest.raises(DanluError, match="does not exist"):
        load_run(out, checkpoint=str(tmp_path / "x.pt"))
