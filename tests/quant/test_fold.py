"""BN folding: eval equality with torch's fuse_conv_bn_eval / conv->BN, and the paper's training-time fold."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

from danlu.quant.config import QConfig
from danlu.quant.fold import fold_bn_eval
from danlu.quant.qat_modules import QATWeighted, set_phase


def _conv_bn(bias: bool = False) -> tuple[nn.Conv2d, nn.BatchNorm2d]:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 6, 3, padding=1, bias=bias), nn.BatchNorm2d(6)
    bn.train()
    for _ in range(3):
        bn(conv(torch.randn(8, 3, 7, 7)) * 2 + 1)
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    return conv.eval(), bn.eval()


def test_fold_equals_torch_fusion_and_conv_bn() -> None:
    for bias in (False, True):
        conv, bn = _conv_bn(bias)
        w, b = fold_bn_eval(conv, bn)
        ref = fuse_conv_bn_eval(conv, bn)
        assert torch.allclose(w, ref.weight, atol=1e-6) and torch.allclose(b, ref.bias, atol=1e-6)
        x = torch.randn(4, 3, 7, 7)
        assert torch.allclose(nn.functional.conv2d(x, w, b, padding=1), bn(conv(x)), atol=1e-5)


def test_fold_linear_equals_torch() -> None:
    torch.manual_seed(1)
    lin, bn = nn.Linear(5, 4), nn.BatchNorm1d(4)
    bn(lin(torch.randn(16, 5)))
    lin.eval(), bn.eval()
    w, b = fold_bn_eval(lin, bn)
    ref = fuse_linear_bn_eval(lin, bn)
    assert torch.allclose(w, ref.weight, atol=1e-6) and torch.allclose(b, ref.bias, atol=1e-6)


def _qat(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> QATWeighted:
    q = QATWeighted(conv, bn, None, QConfig())
    set_phase(q, observe=False, fake_quant=False)  # float path only: compare the folding itself
    return q


def test_training_fold_uses_batch_stats_and_updates_running_like_bn() -> None:
    conv, bn = _conv_bn()
    q = _qat(conv, bn).train()
    ref_bn = nn.BatchNorm2d(6)
    ref_bn.load_state_dict(bn.state_dict())
    ref_bn.train()
    x = torch.randn(8, 3, 7, 7, requires_grad=True)
    y = q(x)
    y_ref = ref_bn(conv(x))
    assert torch.allclose(y, y_ref, atol=1e-5)  # fold with batch mean/var == BN in training mode
    assert torch.allclose(q.bn.running_mean, ref_bn.running_mean, atol=1e-6)
    assert torch.allclose(q.bn.running_var, ref_bn.running_var, atol=1e-6)
    g = torch.randn_like(y)
    assert torch.allclose(torch.autograd.grad(y, x, g)[0], torch.autograd.grad(y_ref, x, g)[0], atol=1e-5)


def test_frozen_and_eval_fold_use_running_stats() -> None:
    conv, bn = _conv_bn()
    q = _qat(conv, bn)
    x = torch.randn(4, 3, 7, 7)
    q.eval()
    assert torch.allclose(q(x), bn(conv(x)), atol=1e-5)
    q.train()
    q.freeze_bn()
    before = q.bn.running_mean.clone()
    assert torch.allclose(q(x), bn(conv(x)), atol=1e-5)  # frozen: running stats, no update
    assert torch.equal(q.bn.running_mean, before)


def test_freeze_bn_after_n_steps() -> None:
    from danlu.quant.prepare import prepare_qat

    conv, bn = _conv_bn()
    qat = prepare_qat(nn.Sequential(conv, bn), QConfig(freeze_bn_after=2)).train()
    layer = qat.get_submodule("q_0")
    means = []
    for _ in range(4):
        qat(torch.randn(8, 3, 7, 7))
        means.append(layer.bn.running_mean.clone())
    assert not torch.equal(means[0], means[1])  # steps 1-2 update the running statistics
    assert layer.bn_frozen and torch.equal(means[1], means[2]) and torch.equal(means[2], means[3])
