"""Design pieces of tr-focal, tr-flood, tr-dropout, tr-warmup/tr-radam and tr-smooth.

References: scipy.stats.multivariate_normal for the focal card's Bayes log-odds; the definition of
flooding (|L - b| + b >= b) for "the flood card records the raw loss"; set arithmetic for the
held-out split of the dropout and smoothing cards.
"""

from __future__ import annotations

import math
import pathlib

import pytest
import torch

from danlu.lab.cards import _tricks_common as T
from danlu.lab.cards import tricks_dropout, tricks_flood, tricks_focal, tricks_warmup
from danlu.lab.core import CardContext


def _ctx(budget: dict) -> CardContext:
    return CardContext(device=torch.device("cpu"), seed=0, mode="quick", budget=budget,
                       figure_dir=pathlib.Path("/nonexistent"), card_id="test")


FOCAL = {"dim": 4, "sep": 2.0, "easy_shift": 3.0, "easy_std": 3.0, "hard_per_pos": 3, "easy_per_pos": 10}


def test_focal_bayes_log_odds_match_scipy():
    stats = pytest.importorskip("scipy.stats")
    x, y, log_odds = tricks_focal._draw(torch.Generator().manual_seed(0), 20, FOCAL)
    assert (int(y.sum()), len(y)) == (20, 20 * 14)
    mean = torch.zeros(3, 4)
    mean[0, 0], mean[2, 1] = 2.0, 3.0
    cov = [1.0, 1.0, 9.0]
    w = [20, 60, 200]
    dens = [w[k] * stats.multivariate_normal(mean[k].numpy(), cov[k]).pdf(x.double().numpy()) for k in range(3)]
    ref = torch.from_numpy(dens[0] / (dens[1] + dens[2])).log()
    assert torch.allclose(log_odds.double(), ref, atol=1e-6, rtol=1e-6)


def test_focal_bayes_ap_beats_a_wrong_score():
    data = tricks_focal._data(0, {**FOCAL, "n_pos": 50, "test_pos": 200})
    y = data["test"].tensors[1]
    wrong = T.average_precision(data["test"].tensors[0][:, 0], y)       # the separating axis alone
    assert data["bayes_ap"] > wrong


def test_flood_records_the_raw_loss_not_the_flooded_one():
    # b far above the untrained CE (ln 10 = 2.3): the flooded value is >= 5 at every step, the raw one is not
    budget = {"n_train": 50, "noise": 0.0, "width": 16, "lr": 1e-3, "steps": 10, "batch": 25, "evals": 2}
    ctx = _ctx(budget)
    run = tricks_flood._one(ctx, tricks_flood._noisy_train(ctx), seed=0, b_flood=5.0)
    assert len(run["raw"]) == 10
    assert max(run["raw"]) < 5.0 and run["late_raw_loss"] < 5.0
    assert run["raw"][0] == pytest.approx(math.log(10), abs=0.5)


def test_dropout_split_holds_out_every_digit_not_trained_on():
    train, held = tricks_dropout.held_out_split(3, 200)
    data = T.digits(0)
    assert len(train) == 200
    assert len(train) + len(held) == len(data.train) + len(data.val) + len(data.test)
    again, _ = tricks_dropout.held_out_split(3, 200)
    assert torch.equal(again.tensors[0], train.tensors[0])
    other, _ = tricks_dropout.held_out_split(4, 200)
    assert not torch.equal(other.tensors[0], train.tensors[0])            # each seed draws its own subset


def test_warmup_spike_is_measured_on_the_whole_training_set():
    budget = {"steps": 8, "warmup": 2, "lr": 1e-3, "batch": 16, "depth": 1, "width": 8}
    r = tricks_warmup._run(_ctx(budget), "adam+warmup", seed=0)
    assert len(r["full"]) == 8 // 4 + 1                                  # step 0 and each step of the first quarter
    assert r["spike"] == pytest.approx(max(r["full"]) / r["full"][0])
    assert r["spike"] >= 1.0
    assert r["lrs"][0] == 0.0 and r["lrs"][2] == pytest.approx(1e-3, rel=0.2)  # ramps, then cosine from the peak
