"""configs/ring_wgan_gp.yaml runs through `danlu train` (a few steps) with the WGAN-GP objective."""

from __future__ import annotations

import json
import pathlib

from danlu.train import load_config, train

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "configs" / "ring_wgan_gp.yaml"


def test_ring_wgan_gp_config_trains(tmp_path):
    cfg = load_config(CONFIG, [f"out_dir={tmp_path / 'run'}", "loop.max_steps=12", "loop.epochs=1"])
    assert cfg.task.args["objective"] == "wasserstein-gp" and cfg.task.args["n_critic"] == 5
    result = train(cfg)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert result is not None and any(k.endswith("modes") for k in metrics)
