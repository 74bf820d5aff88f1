"""tr-margin's pieces at a tiny budget: every arm trains, the protocol's numbers are in range, figures are written."""

from __future__ import annotations

import pathlib

import pytest
import torch

from danlu.lab import CardContext
from danlu.lab.cards.tricks_margin import tr_margin


@pytest.mark.slow  # ~6 s (12 short trainings) plus MNIST-5k's first load
def test_tr_margin_runs_at_a_tiny_budget(tmp_path: pathlib.Path):
    b = {"seeds": 2, "arms": ["softmax", "cosface", "arcface", "sphereface"], "dim": 4, "width": 16, "steps": 5,
         "batch": 32, "lr": 1e-3, "fig_steps": 2}
    ctx = CardContext(device=torch.device("cpu"), seed=0, mode="quick", budget=b, figure_dir=tmp_path,
                      card_id="tr-margin")
    r = tr_margin(ctx)
    r.validate("tr-margin")
    assert [row["loss"] for row in r.table] == b["arms"]
    for arm in b["arms"]:
        for s in r.extra["per_seed"][arm]:
            assert 0 <= s["tar"] <= 1 and 0 <= s["auc"] <= 1 and 0 <= s["acc"] <= 1
    assert list(r.effects)[0] == "AUC gain, margin - softmax" and (tmp_path / "tr-margin-embeddings-2d.png").exists()
