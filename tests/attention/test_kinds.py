"""Every registered attention kind: shapes, causality, masks, fully masked rows, bad input (parametrized)."""

from __future__ import annotations

import pytest
import torch

from danlu.attention import create_attention, list_attentions
from danlu.errors import DanluError

KINDS = list_attentions()
DIM, HEADS, N = 16, 2, 37


def _make(kind, causal, **kw):
    torch.manual_seed(0)
    return create_attention(kind, dim=DIM, heads=HEADS, causal=causal, dtype=torch.float64, **kw).eval()


def _x(b=2, n=N, seed=1):
    return torch.randn(b, n, DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _final_linear(m):
    return m.out if hasattr(m, "out") else m.proj


def test_registry_holds_every_kind_of_the_notes():
    assert {"softmax", "additive", "linear", "performer", "gau", "flash_gau", "transnormer", "transnormer_diag",
            "sparse", "nw"} <= set(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_causal_kinds_do_not_see_the_future(kind):
    m = _make(kind, causal=True)
    x = _x()
    y = m(x)
    x2 = x.clone()
    x2[:, 20:] += torch.randn_like(x2[:, 20:])
    y2 = m(x2)
    torch.testing.assert_close(y2[:, :20], y[:, :20], rtol=1e-9, atol=1e-9)
    assert not torch.allclose(y2[:, 20:], y[:, 20:])


@pytest.mark.parametrize("kind", KINDS)
def test_masked_keys_have_no_influence_and_dead_rows_are_finite(kind):
    m = _make(kind, causal=False)
    x = _x()
    mask = torch.ones(2, N, dtype=torch.bool)
    mask[0, 25:] = False                                                      # padded tail
    mask[1] = False                                                           # nothing to attend to
    y = m(x, mask)
    x2 = x.clone()
    x2[0, 25:] += 3.0
    y2 = m(x2, mask)
    torch.testing.assert_close(y2[0, :25], y[0, :25], rtol=1e-9, atol=1e-9)
    assert torch.isfinite(y).all()
    zero_out = _final_linear(m)(torch.zeros(1, _final_linear(m).in_features, dtype=torch.float64))
    torch.testing.assert_close(y[1], zero_out.expand(N, DIM))                # attention output was exactly 0
    y.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in m.parameters() if p.grad is not None)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_names_both_shapes(kind):
    m = _make(kind, causal=True)
    with pytest.raises(DanluError, match=r"\(2, 5, 8\).*16"):
        m(torch.randn(2, 5, 8, dtype=torch.float64))
    with pytest.raises(DanluError, match=r"mask of shape \(2, 4\).*\(2, 5, 16\)"):
        m(torch.randn(2, 5, DIM, dtype=torch.float64), torch.ones(2, 4, dtype=torch.bool))


def test_unknown_kind_and_bad_heads():
    with pytest.raises(DanluError, match="unknown attention kind 'nope'"):
        create_attention("nope", dim=8)
    with pytest.raises(DanluError, match=r"dim \(10\).*heads \(3\)"):
        create_attention("softmax", dim=10, heads=3)
