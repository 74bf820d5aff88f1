"""Positional encodings vs their closed forms; masked softmax and scoring functions."""

from __future__ import annotations

import math

import pytest
import torch

from danlu.attention import (
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    additive_scores,
    apply_rope,
    masked_softmax,
    scaled_dot_product_scores,
    sinusoidal_encoding,
)
from danlu.errors import DanluError


@pytest.mark.parametrize("dim", [8, 7])
def test_sinusoidal_matches_closed_form(dim):
    pe = sinusoidal_encoding(20, dim, dtype=torch.float64)
    for p in (0, 3, 19):
        for i in range(dim):
            f = math.sin if i % 2 == 0 else math.cos
            assert pe[p, i].item() == pytest.approx(f(p / 10000 ** ((i - i % 2) / dim)), abs=1e-12)
    x = torch.zeros(2, 20, dim, dtype=torch.float64)
    torch.testing.assert_close(SinusoidalPositionalEncoding(dim)(x), pe.expand(2, 20, dim))


def test_rope_is_complex_rotation_and_relative():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 9, 8, generator=g, dtype=torch.float64)
    out = apply_rope(x)
    theta = 10000 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    z = torch.view_as_complex(x.reshape(2, 3, 9, 4, 2).contiguous())
    rot = torch.polar(torch.ones(9, 4, dtype=torch.float64), torch.arange(9, dtype=torch.float64)[:, None] * theta)
    torch.testing.assert_close(out, torch.view_as_real(z * rot).reshape(x.shape), rtol=1e-12, atol=1e-12)
    q, k = x[0, 0, 0], x[0, 0, 1]                                             # <R_m q, R_n k> depends on m - n
    dots = [(apply_rope(q.expand(1, 12, 8))[0, m] @ apply_rope(k.expand(1, 12, 8))[0, m - 3]).item()
            for m in (3, 7, 11)]
    assert max(dots) - min(dots) < 1e-10
    torch.testing.assert_close(RotaryEmbedding(8)(x, offset=2)[..., 0, :], apply_rope(x, offset=2)[..., 0, :])
    with pytest.raises(DanluError, match="even"):
        RotaryEmbedding(7)


def test_masked_softmax_valid_lens():
    s = torch.randn(2, 3, 5, dtype=torch.float64)
    w = masked_softmax(s, torch.tensor([2, 0]))
    torch.testing.assert_close(w[0, :, :2], torch.softmax(s[0, :, :2], -1))
    assert (w[0, :, 2:] == 0).all() and (w[1] == 0).all()
    w2 = masked_softmax(s, torch.tensor([[1, 2, 3], [5, 5, 5]]))
    assert (w2[0, 0, 1:] == 0).all() and (w2[0, 2, 3:] == 0).all()
    torch.testing.assert_close(w2[1], torch.softmax(s[1], -1))
    with pytest.raises(DanluError, match=r"valid_lens of shape \(4,\).*\(2, 3, 5\)"):
        masked_softmax(s, torch.tensor([1, 2, 3, 4]))


def test_scores_match_explicit_loops():
    g = torch.Generator().manual_seed(1)
    q, k = torch.randn(4, 6, generator=g, dtype=torch.float64), torch.randn(5, 3, generator=g, dtype=torch.float64)
    wq, wk, wv = (torch.randn(7, 6, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g,
                  dtype=torch.float64), torch.randn(7, generator=g, dtype=torch.float64))
    s = additive_scores(q, k, wq, wk, wv)
    for i in range(4):
        for j in range(5):
            assert s[i, j].item() == pytest.approx((wv @ torch.tanh(wq @ q[i] + wk @ k[j])).item(), abs=1e-12)
    k2 = torch.randn(5, 6, generator=g, dtype=torch.float64)
    torch.testing.assert_close(scaled_dot_product_scores(q, k2), q @ k2.T / math.sqrt(6))
    with pytest.raises(DanluError, match=r"q \(4, 6\).*k \(5, 3\)"):
        scaled_dot_product_scores(q, k)
