"""Label smoothing vs torch.nn.CrossEntropyLoss(label_smoothing), soft targets vs torch's probability-target
cross entropy, flooding vs its closed form (Ishida et al. 2020); float64 gradcheck."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from danlu.errors import DanluError, UnknownNameError
from danlu.losses import (
    LOSSES,
    Flooding,
    LabelSmoothingCrossEntropy,
    create_loss,
    flood,
    label_smoothing_cross_entropy,
    soft_target_cross_entropy,
)


def _data(n=10, c=5, extra=(), seed=0, ignore=True):
    g = torch.Generator().manual_seed(seed)
    x = (2 * torch.randn((n, c, *extra), generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, c, (n, *extra), generator=g)
    if ignore:
        y.view(-1)[1::3] = 7 if c < 7 else -1
    return x, y


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("eps", [0.0, 0.1, 0.35])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("extra", [(), (2, 3)])
def test_matches_torch_cross_entropy(reduction, eps, weighted, extra):
    x, y = _data(extra=extra)
    w = torch.tensor([0.2, 1.0, 3.0, 0.5, 1.5], dtype=torch.float64) if weighted else None
    x2 = x.detach().clone().requires_grad_()
    ours = label_smoothing_cross_entropy(x, y, eps, w, ignore_index=7, reduction=reduction)
    ref = nn.CrossEntropyLoss(weight=w, ignore_index=7, reduction=reduction, label_smoothing=eps)(x2, y)
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_equals_soft_target_ce_on_smoothed_one_hot():
    x, y = _data(ignore=False)
    q = 0.9 * F.one_hot(y, 5).double() + 0.1 / 5
    torch.testing.assert_close(label_smoothing_cross_entropy(x, y, 0.1), soft_target_cross_entropy(x, q))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_soft_target_matches_torch_probability_targets(reduction):
    x, _ = _data(extra=(3,), ignore=False)
    q = torch.softmax(torch.randn(x.shape, dtype=torch.float64), 1)
    torch.testing.assert_close(soft_target_cross_entropy(x, q, reduction), F.cross_entropy(x, q, reduction=reduction))


def test_gradcheck_float64():
    x, y = _data(n=4, c=5, extra=(2,))
    w = torch.rand(5, dtype=torch.float64) + 0.1
    assert torch.autograd.gradcheck(lambda a: label_smoothing_cross_entropy(a, y, 0.2, w, ignore_index=7), (x,))
    q = torch.softmax(torch.randn(x.shape, dtype=torch.float64), 1)
    assert torch.autograd.gradcheck(lambda a: soft_target_cross_entropy(a, q), (x,))
    fl = Flooding(b=0.3)
    xs, ys = _data(n=6, ignore=False)
    assert torch.autograd.gradcheck(lambda a: fl(a, ys), (xs,))


def test_flooding_value_and_gradient_direction():
    x, y = _data(ignore=False)
    base = F.cross_entropy(x, y)
    (g_base,) = torch.autograd.grad(base, x)
    b_low, b_high = base.item() / 2, base.item() * 2
    low = Flooding(b=b_low)(x, y)
    torch.testing.assert_close(low, base)  # above the flood: identical value and gradient
    torch.testing.assert_close(torch.autograd.grad(low, x)[0], g_base)
    high = Flooding(b=b_high)(x, y)
    torch.testing.assert_close(high, 2 * b_high - base)  # below: reflected, gradient ascent
    torch.testing.assert_close(torch.autograd.grad(high, x)[0], -g_base)


def test_registry_builds_every_loss_on_matching_inputs():
    x, y = _data(ignore=False)
    q = torch.softmax(torch.randn(x.shape, dtype=torch.float64), 1)
    for name in ("cross_entropy", "label_smoothing_ce", "focal", "flooding"):
        assert create_loss(name)(x, y).dim() == 0
    assert create_loss("soft_target_ce")(x, q).dim() == 0
    fl = create_loss("flooding", b=0.1, base="label_smoothing_ce", smoothing=0.2)
    assert isinstance(fl.base, LabelSmoothingCrossEntropy) and fl.base.smoothing == 0.2


@pytest.mark.parametrize("bad, match", [
    (lambda: LabelSmoothingCrossEntropy(smoothing=1.0), r"label_smoothing must be in \[0, 1\)"),
    (lambda: LabelSmoothingCrossEntropy(smoothing=-0.1), r"label_smoothing must be in \[0, 1\)"),
    (lambda: label_smoothing_cross_entropy(torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), weight=[1.0]),
     r"weight must have shape \(3,\)"),
    (lambda: label_smoothing_cross_entropy(torch.zeros(3), torch.zeros(3, dtype=torch.long)), "class dimension"),
    (lambda: soft_target_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 4)), "logits' shape"),
    (lambda: soft_target_cross_entropy(torch.zeros(2, 3), torch.zeros(2, 3, dtype=torch.long)), "float"),
    (lambda: Flooding(b=-0.1), "b must be >= 0"),
    (lambda: flood(torch.zeros(3), 0.1), "scalar"),
])
def test_bad_input(bad, match):
    with pytest.raises(DanluError, match=match):
        bad()


def test_unknown_loss_lists_registered():
    with pytest.raises(UnknownNameError) as e:
        create_loss("focall")
    assert all(n in str(e.value) for n in LOSSES.names())
