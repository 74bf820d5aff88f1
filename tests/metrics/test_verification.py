"""Pair verification against sklearn (roc_auc_score, roc_curve) and brute force over thresholds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score, roc_curve

from danlu.errors import DanluError
from danlu.metrics import verification as V


def _scores(seed: int, n: int = 300, ties: bool = False):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)
    return torch.tensor(s), torch.tensor(y)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_auc_equals_sklearn(seed, ties):
    s, y = _scores(seed, ties=ties)
    assert V.roc_auc(s, y) == pytest.approx(roc_auc_score(y.numpy(), s.numpy()), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_roc_curve_and_tar_at_far_against_sklearn(seed):
    s, y = _scores(seed, ties=seed % 2 == 1)
    fpr, tpr, thr = roc_curve(y.numpy(), s.numpy(), drop_intermediate=False)
    far, tar, t = V.roc_curve(s, y)
    np.testing.assert_allclose(far.numpy(), fpr, atol=1e-12)
    np.testing.assert_allclose(tar.numpy(), tpr, atol=1e-12)
    np.testing.assert_allclose(t.numpy()[1:], thr[1:])
    for f in (0.0, 1e-2, 0.05, 0.3):
        got, at = V.tar_at_far(s, y, f)
        assert got == pytest.approx(tpr[fpr <= f].max(), abs=1e-12)
        accepted = s.numpy() >= at  # the threshold it reports achieves it
        assert accepted[y.numpy() == 0].mean() <= f + 1e-12
        assert accepted[y.numpy() == 1].mean() == pytest.approx(got)


@pytest.mark.parametrize("seed", range(4))
def test_best_threshold_is_the_brute_force_optimum(seed):
    s, y = _scores(seed, n=80, ties=True)
    t, acc = V.best_threshold(s, y)
    cands = np.concatenate([np.unique(s.numpy()), [np.inf]])
    brute = max(((s.numpy() >= c) == y.numpy().astype(bool)).mean() for c in cands)
    assert acc == pytest.approx(brute) and V.pair_accuracy(s, y, t) == pytest.approx(brute)


def test_verify_picks_the_threshold_on_validation():
    vs, vy = _scores(0)
    ts, ty = _scores(1)
    r = V.verify(vs, vy, ts, ty, far=0.05)
    assert r.threshold == V.best_threshold(vs, vy)[0]
    assert r.accuracy == pytest.approx(V.pair_accuracy(ts, ty, r.threshold))
    assert r.auc == pytest.approx(roc_auc_score(ty.numpy(), ts.numpy()))


def test_pairs_and_scores():
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 2])
    pairs, same = V.make_pairs(labels, 50, seed=3)
    assert pairs.shape == (100, 2) and bool((pairs[:, 0] != pairs[:, 1]).all())
    assert torch.equal((labels[pairs[:, 0]] == labels[pairs[:, 1]]).long(), same)
    assert torch.equal(V.make_pairs(labels, 50, seed=3)[0], pairs)
    e = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    torch.testing.assert_close(V.pair_scores(e, torch.tensor([[0, 1], [0, 2]])),
                               torch.tensor([1.0, 0.0], dtype=torch.float64))


def test_bad_inputs():
    s, y = _scores(0)
    with pytest.raises(DanluError, match="both genuine and impostor"):
        V.roc_auc(s, torch.ones_like(y))
    with pytest.raises(DanluError, match="equal length"):
        V.roc_auc(s[:-1], y)
    with pytest.raises(DanluError, match="0 \\(impostor\\) or 1"):
        V.roc_auc(s, y * 2)
    with pytest.raises(DanluError, match="far must be in"):
        V.tar_at_far(s, y, 1.5)
    with pytest.raises(DanluError, match="finite"):
        V.roc_auc(torch.full_like(s, float("nan")), y)
    with pytest.raises(DanluError, match=">= 2 classes"):
        V.make_pairs(torch.zeros(5, dtype=torch.long), 3)
