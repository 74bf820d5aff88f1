"""danlu.attention.MultiHeadAttention vs torch.nn.MultiheadAttention with the same weights."""

from __future__ import annotations

import pytest
import torch

from danlu.attention import MultiHeadAttention
from danlu.errors import DanluError

E, H = 24, 3


def _pair(batch_first=True, kdim=None, vdim=None, bias=True):
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(E, H, batch_first=batch_first, kdim=kdim, vdim=vdim, bias=bias,
                                      dtype=torch.float64)
    mine = MultiHeadAttention(E, H, batch_first=batch_first, kdim=kdim, vdim=vdim, bias=bias, dtype=torch.float64)
    mine.load_state_dict(ref.state_dict())
    return mine, ref


def _t(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64,
                       requires_grad=True)


def _check(mine, ref, args, kwargs_mine, kwargs_ref=None):
    a, wa = mine(*args, **kwargs_mine)
    b, wb = ref(*args, **(kwargs_ref if kwargs_ref is not None else kwargs_mine))
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
    if kwargs_mine.get("need_weights"):
        torch.testing.assert_close(wa, wb, rtol=1e-10, atol=1e-10)
    ga = torch.autograd.grad(a.sum(), [*args, *mine.parameters()])
    gb = torch.autograd.grad(b.sum(), [*args, *ref.parameters()])
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("batch_first", [True, False])
def test_self_attention_matches_torch(batch_first):
    mine, ref = _pair(batch_first)
    x = _t(2, 11, E) if batch_first else _t(11, 2, E)
    _check(mine, ref, (x, x, x), {"need_weights": False})
    _check(mine, ref, (x, x, x), {"need_weights": True})


def test_cross_attention_kdim_vdim_and_masks():
    mine, ref = _pair(kdim=10, vdim=7)
    q, k, v = _t(2, 9, E), _t(2, 13, 10, seed=1), _t(2, 13, 7, seed=2)
    kpm = torch.zeros(2, 13, dtype=torch.bool)
    kpm[0, 10:] = True
    am = torch.rand(9, 13, generator=torch.Generator().manual_seed(3)) > 0.7
    am[:, 0] = False                                                          # no row fully masked for torch
    _check(mine, ref, (q, k, v), {"key_padding_mask": kpm, "attn_mask": am, "need_weights": False})
    fmask = torch.randn(2 * H, 9, 13, dtype=torch.float64)
    _check(mine, ref, (q, k, v), {"attn_mask": fmask, "need_weights": True})


def test_causal_matches_torch_with_triangular_mask():
    mine, ref = _pair()
    x = _t(2, 10, E)
    causal = torch.triu(torch.ones(10, 10, dtype=torch.bool), 1)
    _check(mine, ref, (x, x, x), {"is_causal": True}, {"attn_mask": causal, "need_weights": False})


def test_no_bias_matches_torch():
    mine, ref = _pair(bias=False)
    x = _t(1, 6, E)
    _check(mine, ref, (x, x, x), {"need_weights": False})


def test_fully_masked_query_gives_zeros_not_nan():
    mine, ref = _pair()
    x = _t(2, 5, E)
    kpm = torch.zeros(2, 5, dtype=torch.bool)
    kpm[1] = True
    out, _ = mine(x, x, x, key_padding_mask=kpm)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out[1], mine.out_proj.bias.expand(5, E))      # attention output 0, then out_proj
    assert torch.isnan(ref(x, x, x, key_padding_mask=kpm)[0][1]).all()      # torch: NaN (documented difference)
    out_w, w = mine(x, x, x, key_padding_mask=kpm, need_weights=True)
    assert torch.isfinite(out_w).all() and (w[1] == 0).all()


def test_bad_input_names_shapes():
    mine, _ = _pair()
    with pytest.raises(DanluError, match=r"query of shape \(2, 5, 8\).*24"):
        mine(torch.randn(2, 5, 8), torch.randn(2, 5, E), torch.randn(2, 5, E))
    x = torch.randn(2, 5, E, dtype=torch.float64)
    with pytest.raises(DanluError, match=r"key_padding_mask of shape \(2, 4\).*\(2, 5\)"):
        mine(x, x, x, key_padding_mask=torch.zeros(2, 4, dtype=torch.bool))
    with pytest.raises(DanluError, match=r"attn_mask of shape \(5, 6\).*\(5, 5\)"):
        mine(x, x, x, attn_mask=torch.zeros(5, 6, dtype=torch.bool))
    with pytest.raises(DanluError, match=r"key \(2, 5, 24\) and value \(2, 4, 24\)"):
        mine(x, x, x[:, :4])
    with pytest.raises(DanluError, match="divisible"):
        MultiHeadAttention(10, 3)
