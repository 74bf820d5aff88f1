"""Fine-tuning utilities: freezing (BN kept in eval), head replacement, per-group learning rates."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.vision.finetune import freeze, param_groups, replace_head, trainable_names, unfreeze


def _net():
    torch.manual_seed(0)
    return create_model("resnet_small", in_channels=1, num_classes=5, widths=[4, 8], blocks=1)


def test_freeze_stops_gradients_and_keeps_bn_statistics() -> None:
    m = _net()
    frozen = freeze(m, ["stem.*", "blocks.0.*"])
    assert frozen and all(n.startswith(("stem.", "blocks.0.")) for n in frozen)
    bn = m.stem[1]
    before = bn.running_mean.clone()
    m.train()
    x = torch.randn(8, 1, 8, 8) * 3 + 1
    m(x).sum().backward()
    torch.testing.assert_close(bn.running_mean, before)          # frozen BN did not update
    assert not bn.training                                        # model.train() did not wake it
    live_bn = m.blocks[1].bn1
    assert live_bn.training and live_bn.num_batches_tracked == 1  # a trainable BN still updates
    assert all(p.grad is None for n, p in m.named_parameters() if n in frozen)
    assert m.head.weight.grad is not None
    unfreeze(m, "stem.*")
    m.train()
    m(x)
    assert bn.training and not torch.equal(bn.running_mean, before)


def test_bn_eval_false_lets_statistics_move() -> None:
    m = _net()
    freeze(m, "stem.*", bn_eval=False)
    m.train()
    before = m.stem[1].running_mean.clone()
    m(torch.randn(4, 1, 8, 8) + 2)
    assert not torch.equal(m.stem[1].running_mean, before)


def test_replace_head() -> None:
    m = _net()
    old = m.head
    new = replace_head(m, 3)
    assert m.head is new and new is not old and new.in_features == old.in_features and new.out_features == 3
    assert m(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_param_groups_give_each_group_its_lr_in_an_optimizer_step() -> None:
    m = _net()
    freeze(m, "stem.*")
    groups = param_groups(m, {"head.*": 0.1, "blocks.1.*": 0.01}, default_lr=0.001)
    assert [g["name"] for g in groups] == ["head.*", "blocks.1.*", "default"]
    n_trainable = sum(len(g["params"]) for g in groups)
    assert n_trainable == len(trainable_names(m)) == len(list(m.parameters())) - 3  # stem conv + BN w, b
    opt = torch.optim.SGD(groups, lr=123.0)
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    m(torch.randn(4, 1, 8, 8)).square().sum().backward()
    opt.step()
    for n, p in m.named_parameters():
        lr = 0.1 if n.startswith("head.") else 0.01 if n.startswith("blocks.1.") else 0.001
        if n.startswith("stem."):
            assert torch.equal(p, before[n])
        else:
            torch.testing.assert_close(p.detach(), before[n] - lr * p.grad)   # SGD: p - lr * grad


def test_bad_input_is_a_clear_error() -> None:
    m = _net()
    with pytest.raises(DanluError, match="matches no parameter"):
        freeze(m, "backbone.*")
    with pytest.raises(DanluError, match="nn.Linear head"):
        replace_head(m, 3, attr="pool")
    with pytest.raises(DanluError, match="no submodule"):
        replace_head(m, 3, attr="classifier.fc")
    with pytest.raises(DanluError, match="default_lr is None"):
        param_groups(m, {"head.*": 0.1})
    with pytest.raises(DanluError, match="matches no trainable"):
        param_groups(m, {"nothing.*": 0.1}, default_lr=0.1)
