"""AddCoords / CoordConv2d against the paper's coordinate definition written out by hand; the
coordinate-regression dataset's splits."""

from __future__ import annotations

import pytest
import torch

from danlu.data import load_dataset
from danlu.errors import DanluError
from danlu.priors.coordconv import AddCoords, CoordConv2d


def test_add_coords_matches_the_paper_definition():
    x = torch.randn(2, 3, 4, 5)
    out = AddCoords(with_r=True)(x)
    assert out.shape == (2, 6, 4, 5)
    torch.testing.assert_close(out[:, :3], x)
    for i in range(4):
        for j in range(5):
            ri, cj = 2 * i / 3 - 1, 2 * j / 4 - 1  # 2 i / (H - 1) - 1
            torch.testing.assert_close(out[1, 3:, i, j], torch.tensor([ri, cj, (ri**2 + cj**2) ** 0.5]))
    assert AddCoords()(torch.zeros(1, 1, 1, 3))[0, 1].eq(0).all()  # a size-1 axis gets coordinate 0


def test_coordconv_is_a_conv_over_the_concatenation():
    torch.manual_seed(0)
    layer = CoordConv2d(2, 4, 3, padding=1)
    x = torch.randn(3, 2, 6, 7)
    ref = torch.nn.functional.conv2d(AddCoords()(x), layer.conv.weight, layer.conv.bias, padding=1)
    torch.testing.assert_close(layer(x), ref)
    out = layer(x)
    out.sum().backward()
    assert layer.conv.weight.grad.shape == (4, 4, 3, 3)
    with pytest.raises(DanluError, match=r"\(B, C, H, W\)"):
        AddCoords()(torch.zeros(3, 4))


@pytest.mark.parametrize("split", ["quadrant", "uniform"])
def test_coord_regression_splits(split):
    s = load_dataset("coord_regression", size=8, split=split, seed=2)
    xs = torch.cat([s.train.tensors[0], s.val.tensors[0], s.test.tensors[0]])
    ys = torch.cat([s.train.tensors[1], s.val.tensors[1], s.test.tensors[1]])
    assert len(xs) == 64 and bool((xs.flatten(1).sum(1) == 1).all())
    pos = xs.flatten(1).argmax(1)
    assert len(set(pos.tolist())) == 64  # every position once: splits are disjoint and cover the grid
    torch.testing.assert_close(ys, torch.stack([2 * (pos // 8) / 7 - 1, 2 * (pos % 8) / 7 - 1], 1).float())
    test_pos = s.test.tensors[0].flatten(1).argmax(1)
    assert len(test_pos) == 16
    if split == "quadrant":
        assert bool(((test_pos // 8 >= 4) & (test_pos % 8 >= 4)).all())
    with pytest.raises(DanluError, match="quadrant or uniform"):
        load_dataset("coord_regression", split="corner")
