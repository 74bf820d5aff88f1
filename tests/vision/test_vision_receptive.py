"""Analytic receptive field = empirical gradient footprint; the HDC rule vs the exact footprint."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.vision.receptive import dilated_footprint, empirical_receptive_field, hdc_check, receptive_field


def _stack(dilations, k: int = 3) -> nn.Sequential:
    layers: list[nn.Module] = []
    for d in dilations:
        layers += [nn.ReLU(), nn.Conv2d(4, 4, k, dilation=d, padding=d * (k // 2))]
    return nn.Sequential(nn.Conv2d(1, 4, 1), *layers)  # ends in a conv: no dead output pixel


MODELS = {
    "plain": lambda: _stack([1, 1, 1, 1]),
    "dilated": lambda: _stack([1, 2, 4]),
    "pool_stride": lambda: nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                                         nn.Conv2d(3, 3, 5, stride=2, padding=1), nn.AvgPool2d(3, 1, 1),
                                         nn.Conv2d(3, 2, 3, dilation=3)),
    "resnet_small": lambda: (lambda r: nn.Sequential(r.stem, r.blocks))(
        create_model("resnet_small", widths=[4, 8], blocks=2)),
}


@pytest.mark.parametrize("name", list(MODELS))
def test_analytic_equals_empirical(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name]()
    rf = receptive_field(model, (1, 48, 48))
    foot, extent = empirical_receptive_field(model, (1, 48, 48))
    assert extent == rf.size
    i, j = rf.output_shape[2] // 2, rf.output_shape[3] // 2
    rows, cols = rf.window(i, j)
    assert foot.any(1).nonzero()[0].item() == rows.start  # the window sits where the gradient is
    assert foot.any(0).nonzero()[0].item() == cols.start


def test_closed_forms() -> None:
    # n 3x3 convs: 2n + 1; dilations (1, 2, 4): 1 + 2*(1 + 2 + 4) = 15
    assert receptive_field(_stack([1] * 5), (1, 32, 32)).size == (11, 11)
    assert receptive_field(_stack([1, 2, 4]), (1, 32, 32)).size == (15, 15)
    rf = receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2), nn.Conv2d(1, 1, 3)), (1, 16, 16))
    assert rf.size == (8, 8) and rf.jump == (2, 2) and rf.start == (0, 0)


@pytest.mark.parametrize("rates", [(2, 2, 2), (1, 2, 3), (1, 2, 5), (1, 2, 9), (2, 4), (1, 1)])
def test_hdc_holes_match_the_empirical_footprint(rates) -> None:
    torch.manual_seed(0)
    model = _stack(rates)
    foot, _ = empirical_receptive_field(model, (1, 40, 40))
    row = foot.any(0)  # 1-D footprint along the width
    nz = row.nonzero().flatten()
    emp = row[nz[0]:nz[-1] + 1]
    torch.testing.assert_close(emp, dilated_footprint(rates))
    assert hdc_check(rates).holes == int((~emp).sum())


def test_hdc_rule_of_the_paper() -> None:
    assert not hdc_check([2, 2, 2]).satisfies_hdc and hdc_check([2, 2, 2]).gridding   # common factor 2
    assert hdc_check([1, 2, 3]).satisfies_hdc and not hdc_check([1, 2, 3]).gridding
    assert hdc_check([1, 2, 5]).satisfies_hdc                                            # the paper's example
    rep = hdc_check([1, 2, 9])                                                           # M_2 = 5 > 3
    assert rep.m == (3, 5, 9) and not rep.satisfies_hdc and rep.gridding


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DanluError, match="smaller than the model's receptive field"):
        receptive_field(_stack([1, 2, 4]), (1, 10, 10))
    with pytest.raises(DanluError, match="does not fit the model"):
        receptive_field(nn.Conv2d(1, 1, 7), (1, 4, 4))
    with pytest.raises(DanluError, match="feature map"):
        receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Flatten()), (1, 8, 8))
    with pytest.raises(DanluError, match="dilations"):
        hdc_check([1, 0])
    with pytest.raises(DanluError, match="input_shape"):
        receptive_field(nn.Conv2d(1, 1, 3), (8, 8))
