"""Design pieces of the training-tricks cards: the measures and rules their verdicts are computed from.

References: closed forms (a least-squares slope of an exact line, a diagonal vs an axis-aligned good
region), the linear-scaling rule and equal-epoch step count of Wu & He (arXiv:1803.08494), and the
label-flip rate of the flooding card's noisy subset.
"""

from __future__ import annotations

import math
import pathlib

import pytest
import torch

from danlu.lab.cards import _tricks_common as T
from danlu.lab.cards import tricks_adamw, tricks_flood, tricks_gn
from danlu.lab.core import CardContext
from danlu.lab.evidence import Estimate


def _ctx(budget: dict) -> CardContext:
    return CardContext(device=torch.device("cpu"), seed=0, mode="quick", budget=budget,
                       figure_dir=pathlib.Path("/nonexistent"), card_id="test")


def test_adamw_slope_is_least_squares():
    xs = [-4.0, -3.0, -2.0, -1.0]
    assert tricks_adamw._slope(xs, [2 * x + 1 for x in xs]) == pytest.approx(2.0)
    assert tricks_adamw._slope(xs, [3.0] * 4) == pytest.approx(0.0)


def test_adamw_centres_tell_diagonal_from_axis_aligned():
    wds = [1e-4, 1e-3, 1e-2, 1e-1]
    lrs = [1e-3, 1e-2, 1e-1, 1.0]
    log_lr = [math.log10(lr) for lr in lrs]
    diagonal = [[0.9 if j == 3 - i else 0.5 for j in range(4)] for i in range(4)]   # best decay ~ 1/lr
    aligned = [[0.9 if j == 1 else 0.5 for j in range(4)] for i in range(4)]        # best decay fixed
    plateau = [[0.9, 0.9, 0.5, 0.1] for _ in range(4)]                              # ties: the centre of the top cells
    assert tricks_adamw._slope(log_lr, tricks_adamw._centres(diagonal, wds, 0.01)) == pytest.approx(-1.0)
    assert tricks_adamw._slope(log_lr, tricks_adamw._centres(aligned, wds, 0.01)) == pytest.approx(0.0)
    assert tricks_adamw._centres(plateau, wds, 0.01) == pytest.approx([-3.5] * 4)


@pytest.mark.parametrize(("bn_change", "gn_change", "held"), [
    (-10.0, 0.0, True),     # the paper's picture: BN drops 10 points at batch 2, GN keeps its accuracy
    (1.1, 4.5, False),      # a rise is not a drop: BN gains at batch 2 (seed 0 of the old single-seed card)
    (-10.0, -5.0, False),   # GN drops too
    (-3.0, -2.5, False),    # both drop about the same
    (-1.0, 1.0, False),     # BN's drop below the margin
])
def test_gn_verdict_needs_bn_to_drop_and_gn_to_hold(bn_change, gn_change, held):
    half = 0.5                                                    # tight intervals: the point values decide
    e = Estimate.of
    assert tricks_gn.verdict(e(bn_change, half), e(gn_change, half), e(gn_change - bn_change, half)) is held


def test_gn_verdict_is_inconclusive_when_bn_interval_straddles_the_margin():
    e = Estimate.of
    assert tricks_gn.verdict(e(-2.5, 1.0), e(0.0, 0.5), e(2.5 + 1.0, 0.5)) is None
    assert tricks_gn.verdict(e(-2.5, 1.0), e(0.0, 0.5), e(2.5 + 1.0, 0.5), margin=1.0) is True


def test_gn_runs_equal_epochs_with_linear_lr_scaling():
    budget = {"n_train": 32, "epochs": 2, "base_lr": 0.1, "model": "cnn", "model_kw": {"widths": [4], "image_size": 8}}
    ctx = _ctx(budget)
    big, small = tricks_gn._one(ctx, 0, "gn", 16), tricks_gn._one(ctx, 0, "gn", 2)
    assert (big["steps"], small["steps"]) == (4, 32)                       # 2 epochs x 32 samples each
    assert (big["lr"], small["lr"]) == pytest.approx((0.05, 0.00625))     # 0.1 x batch / 32
    assert len(big["curve"]) == len(small["curve"]) == 2                  # one mean loss per epoch


def test_flood_noisy_subset_flips_the_requested_share_and_keeps_inputs():
    ctx = _ctx({"n_train": 400, "noise": 0.5})
    noisy = tricks_flood._noisy_train(ctx)
    clean = T.subset(T.digits(0).train, 400, 0)
    assert torch.equal(noisy.tensors[0], clean.tensors[0])
    changed = (noisy.tensors[1] != clean.tensors[1]).float().mean().item()
    assert 0.5 * 0.9 * 0.7 < changed < 0.5 * 0.9 * 1.3                    # re-drawn labels land on the old one 1/10
    again = tricks_flood._noisy_train(ctx)
    assert torch.equal(again.tensors[1], noisy.tensors[1])
    assert torch.equal(tricks_flood._noisy_train(_ctx({"n_train": 400, "noise": 0.0})).tensors[1], clean.tensors[1])


@pytest.mark.parametrize("k", [1, 3, 10])
def test_trailing_mean_matches_a_cumulative_sum(k):
    import numpy as np

    xs = np.random.default_rng(0).normal(size=25)
    c = np.concatenate([[0.0], np.cumsum(xs)])
    ref = [(c[i + 1] - c[max(0, i + 1 - k)]) / min(i + 1, k) for i in range(len(xs))]
    assert T.trailing_mean(list(xs), k) == pytest.approx(ref)
