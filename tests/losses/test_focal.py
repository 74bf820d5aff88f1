"""Focal losses vs torchvision.ops.sigmoid_focal_loss and torch cross entropy; float64 gradcheck."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torchvision.ops import sigmoid_focal_loss as tv_focal

from danlu.errors import DanluError
from danlu.losses import FocalLoss, SigmoidFocalLoss, create_loss, sigmoid_focal_loss, softmax_focal_loss


def _binary(shape=(7, 5), seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    x = (3 * torch.randn(shape, generator=g, dtype=dtype)).requires_grad_()
    y = (torch.rand(shape, generator=g) < 0.3).to(dtype)
    return x, y


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (0.75, 0.5), (None, 2.0), (0.0, 1.0), (1.0, 3.0), (0.5, 0.0)])
def test_sigmoid_focal_matches_torchvision(reduction, alpha, gamma):
    x, y = _binary()
    x2 = x.detach().clone().requires_grad_()
    ours = sigmoid_focal_loss(x, y, alpha, gamma, reduction)
    ref = tv_focal(x2, y, -1 if alpha is None else alpha, gamma, reduction)
    torch.testing.assert_close(ours, ref)
    ours.sum().backward()
    ref.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_sigmoid_focal_module_and_registry():
    x, y = _binary((4, 3, 2))
    m = create_loss("sigmoid_focal", alpha=0.3, gamma=1.5)
    assert isinstance(m, SigmoidFocalLoss)
    torch.testing.assert_close(m(x, y), tv_focal(x, y, 0.3, 1.5, "mean"))


def _multi(n=9, c=4, extra=(), seed=1, ignore=True):
    g = torch.Generator().manual_seed(seed)
    x = (2 * torch.randn((n, c, *extra), generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, c, (n, *extra), generator=g)
    if ignore:
        y.view(-1)[::4] = -100
    return x, y


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("extra", [(), (3, 2)])
def test_softmax_focal_gamma0_is_cross_entropy(reduction, extra):
    x, y = _multi(extra=extra)
    torch.testing.assert_close(softmax_focal_loss(x, y, gamma=0.0, reduction=reduction),
                               F.cross_entropy(x, y, reduction=reduction))


def test_softmax_focal_alpha_gamma0_is_weighted_ce_sum():
    x, y = _multi()
    w = [0.1, 0.5, 0.9, 0.3]
    torch.testing.assert_close(softmax_focal_loss(x, y, alpha=w, gamma=0.0, reduction="sum"),
                               F.cross_entropy(x, y, weight=torch.tensor(w, dtype=torch.float64), reduction="sum"))


@pytest.mark.parametrize("alpha, gamma", [(0.25, 2.0), (0.8, 1.0)])
def test_two_class_softmax_focal_equals_sigmoid_focal(alpha, gamma):
    """With logits [0, z], softmax p_1 = sigmoid(z): per-class alpha [1-a, a] is torchvision's alpha a."""
    g = torch.Generator().manual_seed(3)
    z = torch.randn(20, generator=g, dtype=torch.float64) * 3
    y = (torch.rand(20, generator=g) < 0.4).long()
    logits = torch.stack([torch.zeros_like(z), z], 1)  # (20, 2)
    ours = softmax_focal_loss(logits, y, alpha=[1 - alpha, alpha], gamma=gamma, reduction="none")
    torch.testing.assert_close(ours, tv_focal(z, y.double(), alpha, gamma, "none"))


def test_focal_down_weights_easy_examples():
    easy = torch.tensor([[4.0, -4.0]])
    hard = torch.tensor([[0.2, 0.0]])
    y = torch.tensor([0])
    ratio_focal = softmax_focal_loss(easy, y) / softmax_focal_loss(hard, y)
    ratio_ce = F.cross_entropy(easy, y) / F.cross_entropy(hard, y)
    assert ratio_focal < 0.01 * ratio_ce


def test_gradcheck_float64():
    x, y = _binary((3, 4))
    assert torch.autograd.gradcheck(lambda a: sigmoid_focal_loss(a, y, 0.25, 2.0, "mean"), (x,))
    xm, ym = _multi(n=5, c=3, extra=(2,))
    assert torch.autograd.gradcheck(lambda a: softmax_focal_loss(a, ym, [0.2, 0.5, 0.9], 2.0), (xm,))
    fl = FocalLoss(gamma=1.5)
    assert torch.autograd.gradcheck(lambda a: fl(a, ym), (xm,))


def test_ignored_targets_contribute_nothing():
    x, y = _multi(ignore=True)
    x.grad = None
    softmax_focal_loss(x, y, reduction="sum").backward()
    assert torch.all(x.grad[y == -100] == 0)
    none = softmax_focal_loss(x, y, reduction="none")
    assert torch.all(none[y == -100] == 0)
    torch.testing.assert_close(softmax_focal_loss(x, y), none.sum() / (y != -100).sum())


@pytest.mark.parametrize("bad, match", [
    (lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), alpha=1.5), r"alpha must be in \[0, 1\]"),
    (lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(3), alpha=-0.1), r"alpha must be in \[0, 1\]"),
    (lambda: FocalLoss(alpha=[0.2, 1.2]), r"alpha must be in \[0, 1\]"),
    (lambda: SigmoidFocalLoss(gamma=-1), "gamma must be >= 0"),
    (lambda: sigmoid_focal_loss(torch.zeros(3), torch.zeros(4)), "must equal logits shape"),
    (lambda: softmax_focal_loss(torch.zeros(3, 2), torch.zeros(3)), "integer class indices"),
    (lambda: softmax_focal_loss(torch.zeros(3, 2), torch.zeros(4, dtype=torch.long)), "does not match"),
    (lambda: softmax_focal_loss(torch.zeros(3, 2), torch.zeros(3, dtype=torch.long), alpha=[0.5]), "one weight per"),
    (lambda: FocalLoss(reduction="avg"), "reduction must be one of"),
])
def test_bad_input(bad, match):
    with pytest.raises(DanluError, match=match):
        bad()
