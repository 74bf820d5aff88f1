"""Metrics the tricks cards compute, vs their references: AP vs sklearn, ECE vs torchmetrics."""

from __future__ import annotations

import pytest
import torch

from danlu.lab.cards._tricks_common import average_precision, calibration, pr_curve


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_average_precision_matches_sklearn(seed):
    sk = pytest.importorskip("sklearn.metrics")
    g = torch.Generator().manual_seed(seed)
    y = (torch.rand(300, generator=g) < 0.1).long()
    score = torch.rand(300, generator=g) + 0.5 * y
    score[::7] = 0.5  # ties
    assert average_precision(score, y) == pytest.approx(sk.average_precision_score(y.numpy(), score.numpy()))
    p, r, _ = sk.precision_recall_curve(y.numpy(), score.numpy())
    ours_r, ours_p = pr_curve(score, y)
    # sklearn lists thresholds ascending and appends (recall 0, precision 1)
    assert ours_r.flip(0).numpy() == pytest.approx(r[:-1])
    assert ours_p.flip(0).numpy() == pytest.approx(p[:-1])


@pytest.mark.parametrize("seed", [0, 1])
def test_ece_matches_torchmetrics(seed):
    tm = pytest.importorskip("torchmetrics.classification")
    g = torch.Generator().manual_seed(seed)
    probs = torch.softmax(3 * torch.randn(500, 10, generator=g), 1)
    y = torch.randint(0, 10, (500,), generator=g)
    ref = tm.MulticlassCalibrationError(num_classes=10, n_bins=15, norm="l1")(probs, y).item()
    ece, rows = calibration(probs, y, bins=15)
    assert ece == pytest.approx(ref, abs=1e-6)
    assert sum(r["count"] for r in rows) == 500
