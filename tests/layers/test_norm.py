"""norm= factory: each name gives torch's own layer, normalising as that layer does."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from danlu.errors import DanluError, UnknownNameError
from danlu.layers import NORMS, make_norm


@pytest.mark.parametrize("name, spatial, cls", [
    ("bn", True, nn.BatchNorm2d), ("bn", False, nn.BatchNorm1d), ("gn", True, nn.GroupNorm),
    ("gn", False, nn.GroupNorm), ("ln", True, nn.GroupNorm), ("ln", False, nn.LayerNorm), ("none", True, nn.Identity),
])
def test_factory_returns_torch_layers(name, spatial, cls):
    assert type(make_norm(name, 16, spatial=spatial)) is cls


def test_gn_groups_divide_channels_and_ln_is_one_group():
    assert make_norm("gn", 12, groups=8).num_groups == 6
    assert make_norm("gn", 4, groups=8).num_groups == 4
    assert make_norm("ln", 12).num_groups == 1


def test_gn_output_is_independent_of_batch_size():
    """GroupNorm normalises within a sample: the batch-of-2 output equals the per-sample outputs (BN's does not)."""
    x = torch.randn(2, 8, 4, 4)
    for name, same in (("gn", True), ("bn", False)):
        m = make_norm(name, 8).train()
        joint = m(x)
        alone = torch.cat([m(x[:1]) if name == "gn" else m(x[:1].repeat(2, 1, 1, 1))[:1], m(x[1:2])
                           if name == "gn" else m(x[1:2].repeat(2, 1, 1, 1))[:1]])
        assert torch.allclose(joint, alone, atol=1e-5) is same


def test_ln_spatial_normalises_over_c_h_w():
    x = torch.randn(3, 6, 5, 5)
    out = make_norm("ln", 6)(x)
    ref = nn.functional.layer_norm(x, x.shape[1:])
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_bad_input():
    with pytest.raises(DanluError, match="channels must be positive"):
        make_norm("bn", 0)
    with pytest.raises(UnknownNameError, match="valid: bn, gn, ln, none"):
        make_norm("batchnorm", 4)
    assert set(NORMS.names()) >= {"bn", "gn", "ln", "none"}
