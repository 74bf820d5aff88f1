"""tr-prior's pieces at a tiny budget: the RRR and CoordConv arms train and report, figures are written."""

from __future__ import annotations

import pathlib

import torch

from danlu.lab import CardContext
from danlu.lab.cards.tricks_prior import _coord_net, _plain_net, tr_prior


def test_tr_prior_runs_at_a_tiny_budget(tmp_path: pathlib.Path):
    b = {"seeds": 2, "width": 8, "steps": 3, "batch": 32, "lr": 1e-3, "rrr_weight": 10.0, "size": 8, "channels": 4,
         "coord_steps": 3, "coord_batch": 16, "coord_lr": 3e-3}
    ctx = CardContext(device=torch.device("cpu"), seed=0, mode="quick", budget=b, figure_dir=tmp_path,
                      card_id="tr-prior")
    r = tr_prior(ctx)
    r.validate("tr-prior")
    assert len(r.table) == 4 and (tmp_path / "tr-prior-priors.png").exists()


def test_the_plain_cnn_is_at_least_as_large_as_the_coordconv_net():
    def count(m):
        return sum(p.numel() for p in m.parameters())

    assert count(_plain_net(16, 16)) >= count(_coord_net(16))
    assert _coord_net(4)(torch.zeros(3, 1, 8, 8)).shape == (3, 2) == _plain_net(4, 8)(torch.zeros(3, 1, 8, 8)).shape
