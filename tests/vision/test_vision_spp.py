"""SPP: fixed-length output for any size; bins equal the paper's max-pool windows when n divides H."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.vision.spp import RandomResize, SpatialPyramidPooling, SPPClassifier


@pytest.mark.parametrize("size", [(8, 8), (9, 13), (16, 12), (31, 31)])
def test_fixed_length_for_any_size(size) -> None:
    spp = SpatialPyramidPooling((1, 2, 4))
    out = spp(torch.randn(2, 3, *size))
    assert out.shape == (2, 3 * 21) == (2, spp.out_features(3))


@pytest.mark.parametrize("mode,pool", [("max", F.max_pool2d), ("avg", F.avg_pool2d)])
def test_levels_equal_plain_pooling_when_divisible(mode, pool) -> None:
    x = torch.randn(2, 3, 12, 12, requires_grad=True)
    out = SpatialPyramidPooling((1, 2, 3), mode)(x)
    ref = torch.cat([pool(x, 12 // n).flatten(1) for n in (1, 2, 3)], 1)  # window = stride = H / n
    torch.testing.assert_close(out, ref)
    g1, = torch.autograd.grad(out.square().sum(), x)
    g2, = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(g1, g2)


def test_paper_bins_for_non_divisible_size() -> None:
    # He et al.: window ceil(a/n), stride floor(a/n); for a=13, n=4 -> bins start 0,3,6,9 with width 4;
    # torch's adaptive bins are floor(i*a/n)..ceil((i+1)*a/n): 0-4, 3-7, 6-10, 9-13: the same here
    x = torch.randn(1, 2, 13, 13)
    out = SpatialPyramidPooling((4,))(x).view(1, 2, 4, 4)
    torch.testing.assert_close(out, F.max_pool2d(x, kernel_size=4, stride=3))


def test_classifier_accepts_several_sizes_and_trains() -> None:
    torch.manual_seed(0)
    m = SPPClassifier(1, 4, widths=[4, 8], levels=(1, 2))
    rr = RandomResize([16, 20, 24], seed=0)
    for s in (16, 21, 28):
        assert m(torch.randn(2, 1, s, s)).shape == (2, 4)
    x = rr(torch.randn(3, 1, 28, 28))
    assert x.shape[-1] in (16, 20, 24)
    F.cross_entropy(m(x), torch.tensor([0, 1, 2])).backward()
    assert m.features[0].weight.grad.abs().sum() > 0
    rr.eval()
    assert rr(torch.zeros(1, 1, 28, 28)).shape[-1] == 28


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DanluError, match="level 4 needs"):
        SpatialPyramidPooling((1, 4))(torch.randn(1, 1, 3, 5))
    with pytest.raises(DanluError, match="H, W >= 16"):
        SPPClassifier(1, 2, widths=[4, 4], levels=(1, 4))(torch.randn(1, 1, 12, 12))
    with pytest.raises(DanluError, match="mode"):
        SpatialPyramidPooling(mode="median")
    with pytest.raises(DanluError, match="levels"):
        SpatialPyramidPooling(())
