"""resnet_small / plainnet: blocks equal torchvision's BasicBlock; the plain twin differs only by shortcuts."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchvision.models.resnet import BasicBlock as TVBlock

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.models.resnet_small import BasicBlock


@pytest.mark.parametrize("stride, cin, cout", [(1, 8, 8), (2, 8, 16)])
def test_block_matches_torchvision_basic_block(stride, cin, cout):
    torch.manual_seed(0)
    ours = BasicBlock(cin, cout, stride=stride, norm="bn")
    down = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))
    ref = TVBlock(cin, cout, stride=stride, downsample=down)
    ref.load_state_dict(ours.state_dict())  # same parameter names and shapes
    x = torch.randn(3, cin, 9, 9, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    for mode in ("train", "eval"):
        getattr(ours, mode)()
        getattr(ref, mode)()
        y, y2 = ours(x), ref(x2)
        torch.testing.assert_close(y, y2)
    y.sum().backward()
    y2.sum().backward()
    torch.testing.assert_close(x.grad, x2.grad)


def test_plain_twin_has_same_layers_minus_shortcuts():
    res = create_model("resnet_small", widths=[8, 16], blocks=2)
    plain = create_model("plainnet", widths=[8, 16], blocks=2)
    n_short = sum(p.numel() for b in res.blocks if b.downsample is not None for p in b.downsample.parameters())
    assert sum(p.numel() for p in res.parameters()) - n_short == sum(p.numel() for p in plain.parameters())
    assert len(res.convs()) == len(plain.convs()) == 1 + 2 * 2 * 2
    x = torch.randn(2, 1, 8, 8)
    assert res(x).shape == plain(x).shape == (2, 10)


@pytest.mark.parametrize("norm", ["bn", "gn", "ln", "none"])
def test_norms_and_shapes(norm):
    m = create_model("resnet_small", in_channels=3, num_classes=5, widths=[8, 16, 32], blocks=1, norm=norm)
    assert m(torch.randn(2, 3, 16, 16)).shape == (2, 5)
    has_bias = m.first_layer().bias is not None
    assert has_bias is (norm == "none")


def test_bad_input():
    with pytest.raises(DanluError, match="widths"):
        create_model("resnet_small", widths=[])
    with pytest.raises(DanluError, match="blocks"):
        create_model("plainnet", blocks=0)
