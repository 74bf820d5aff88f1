"""tr-wgan's pieces at a tiny budget: both arms train, W1 is tracked, figures are written."""

from __future__ import annotations

import pathlib

import torch

from danlu.lab import CardContext
from danlu.lab.cards.tricks_wgan import tr_wgan


def test_tr_wgan_runs_at_a_tiny_budget(tmp_path: pathlib.Path):
    b = {"seeds": 2, "gen_steps": 8, "n": 256, "std": 0.1, "samples": 64, "width": 8, "batch": 32, "lr": 1e-3,
         "checkpoints": 4}
    ctx = CardContext(device=torch.device("cpu"), seed=0, mode="quick", budget=b, figure_dir=tmp_path,
                      card_id="tr-wgan")
    r = tr_wgan(ctx)
    r.validate("tr-wgan")
    assert [row["loss"] for row in r.table] == ["standard", "WGAN-GP"]
    assert all(len(t) == 4 and all(w1 >= 0 for _, _, w1 in t) for t in r.extra["tracks"])
    assert (tmp_path / "tr-wgan-samples.png").exists() and (tmp_path / "tr-wgan-w1-tracking.png").exists()
