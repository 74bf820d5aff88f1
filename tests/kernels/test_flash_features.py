"""flash_attention features: ``return_lse`` and ``causal_align`` (reference, naive, SDPA paths).

References (float64): ``torch.logsumexp`` of the explicitly masked scores for the LSE, and
``torch.nn.functional.scaled_dot_product_attention`` with an explicit ``tril(diagonal=Nk - Nq)`` keep
mask for bottom-right causal attention (FlashAttention-2's convention; SDPA's ``is_causal`` is the
top-left one). Gradients are compared with autograd through those references.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.kernels import flash_attention
from danlu.kernels.flash_attention import _auto_backend

TIGHT = {"rtol": 1e-10, "atol": 1e-10}
SHAPES = [(37, 37), (5, 29), (29, 5)]


def _qkv(nq, nk, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, n, d, generator=g, dtype=torch.float64, requires_grad=True) for n in (nq, nk, nk)]


def _keep(nq, nk, causal, offset):
    keep = torch.ones(nq, nk, dtype=torch.bool)
    return keep.tril(offset) if causal else keep


def _lse_ref(q, k, keep):
    s = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    return torch.logsumexp(s.masked_fill(~keep, float("-inf")), dim=-1)


# ---------------------------------------------------------------------------------------- return_lse
@pytest.mark.parametrize("backend", ["reference", "naive", "auto"])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES)
def test_return_lse_matches_logsumexp_with_gradients(backend, causal, shape):
    q, k, v = _qkv(*shape)
    kw = {"block_q": 16, "block_k": 8} if backend == "reference" else {}
    o, lse = flash_attention(q, k, v, causal=causal, backend=backend, return_lse=True, **kw)
    keep = _keep(*shape, causal, 0)
    ref_o = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    ref_lse = _lse_ref(q, k, keep)
    live = keep.any(-1)                                             # top-left causal, Nq > Nk: all live
    torch.testing.assert_close(o, ref_o, **TIGHT)
    torch.testing.assert_close(lse[..., live], ref_lse[..., live], **TIGHT)
    g = torch.Generator().manual_seed(1)
    go, gl = torch.randn(o.shape, generator=g, dtype=torch.float64), torch.randn(lse.shape, generator=g,
                                                                                 dtype=torch.float64)
    got = torch.autograd.grad((o * go).sum() + (lse * gl).sum(), (q, k, v))
    want = torch.autograd.grad((ref_o * go).sum() + (ref_lse * gl).sum(), (q, k, v))
    for name, a, b in zip("qkv", got, want):
        torch.testing.assert_close(a, b, **TIGHT, msg=f"d{name}")


def test_lse_only_loss_and_dead_rows():
    """A loss on the LSE alone gives its gradient (dS = P dLSE); fully masked rows: o = 0, lse = -inf, finite grads."""
    q, k, v = _qkv(20, 24)
    keep = torch.ones(20, 24, dtype=torch.bool)
    keep[3] = False
    o, lse = flash_attention(q, k, v, mask=keep, return_lse=True, block_q=8, block_k=8)
    assert (o[:, :, 3] == 0).all() and torch.isneginf(lse[:, :, 3]).all()
    live = torch.ones(20, dtype=torch.bool)
    live[3] = False
    loss = lse[..., live].sum()
    got = torch.autograd.grad(loss, (q, k, v), allow_unused=True)
    want = torch.autograd.grad(_lse_ref(q, k, keep)[..., live].sum(), (q, k))
    torch.testing.assert_close(got[0], want[0], **TIGHT)
    torch.testing.assert_close(got[1], want[1], **TIGHT)
    assert got[2] is None or (got[2] == 0).all()


def test_auto_routes_return_lse_to_reference_and_others_refuse():
    q, k, v = _qkv(8, 8)
    assert _auto_backend(q, k, v, True, None, {}, return_lse=True) == "reference"
    with pytest.raises(DanluError, match="sdpa.*LSE"):
        flash_attention(q, k, v, backend="sdpa", return_lse=True)
    assert isinstance(flash_attention(q, k, v), torch.Tensor)          # default: a tensor, not a tuple


# -------------------------------------------------------------------------------------- causal_align
@pytest.mark.parametrize("backend", ["reference", "naive", "auto", "sdpa"])
@pytest.mark.parametrize("shape", [(5, 29), (16, 40), (37, 37)])
def test_bottom_right_matches_sdpa_with_shifted_mask(backend, shape):
    q, k, v = _qkv(*shape, seed=2)
    kw = {"block_q": 8, "block_k": 16} if backend == "reference" else {}
    o = flash_attention(q, k, v, causal=True, backend=backend, causal_align="bottom_right", **kw)
    keep = _keep(*shape, True, shape[1] - shape[0])
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    torch.testing.assert_close(o, ref, **TIGHT)
    g = torch.randn_like(o)
    for name, a, b in zip("qkv", torch.autograd.grad(o, (q, k, v), g), torch.autograd.grad(ref, (q, k, v), g)):
        torch.testing.assert_close(a, b, **TIGHT, msg=f"d{name}")


@pytest.mark.parametrize("backend", ["reference", "naive", "auto"])
def test_bottom_right_more_queries_than_keys_gives_zero_rows(backend):
    """Nq > Nk bottom-right: queries i < Nq - Nk see no key -> zeros (FlashAttention-2); others as SDPA."""
    nq, nk = 29, 5
    q, k, v = _qkv(nq, nk, seed=3)
    kw = {"block_q": 8, "block_k": 4} if backend == "reference" else {}
    o = flash_attention(q, k, v, causal=True, backend=backend, causal_align="bottom_right", **kw)
    keep = _keep(nq, nk, True, nk - nq)
    live = keep.any(-1)
    assert (~live).sum() == nq - nk and (o[:, :, ~live] == 0).all()
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)[:, :, live]
    torch.testing.assert_close(o[:, :, live], ref, **TIGHT)
    g = torch.randn_like(ref)
    got = torch.autograd.grad(o[:, :, live], (q, k, v), g)
    want = torch.autograd.grad(ref, (q, k, v), g)
    for name, a, b in zip("qkv", got, want):
        torch.testing.assert_close(a, b, **TIGHT, msg=f"d{name}")


def test_top_left_is_the_default_and_equals_sdpa_is_causal():
    q, k, v = _qkv(5, 29, seed=4)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    for backend in ("reference", "naive", "auto"):
        torch.testing.assert_close(flash_attention(q, k, v, causal=True, backend=backend), ref, **TIGHT)
        torch.testing.assert_close(flash_attention(q, k, v, causal=True, backend=backend, causal_align="top_left"),
                                   ref, **TIGHT)


def test_causal_align_dispatch_and_bad_name():
    q, k, v = _qkv(5, 29)
    assert _auto_backend(q, k, v, True, None, {}, causal_align="bottom_right") == "reference"
    sq, sk, sv = _qkv(9, 9)
    assert _auto_backend(sq, sk, sv, True, None, {}, causal_align="bottom_right") == "sdpa"   # Nq == Nk: same
    assert _auto_backend(q, k, v, False, None, {}, causal_align="bottom_right") == "sdpa"     # not causal
    with pytest.raises(DanluError, match="causal_align must be one of"):
        flash_attention(q, k, v, causal=True, causal_align="diagonal")


# ------------------------------------------------------------------------ grouped-query / multi-query
def _gqa(hq, hkv, nq=20, nk=44, d=24, seed=5):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, h, n, d, generator=g, dtype=torch.float64, requires_grad=True)
            for h, n in ((hq, nq), (hkv, nk), (hkv, nk))]


@pytest.mark.parametrize("backend", ["reference", "naive", "sdpa", "auto"])
@pytest.mark.parametrize(("hq", "hkv"), [(6, 2), (6, 1), (4, 4)], ids=["gqa", "mqa", "mha"])
@pytest.mark.parametrize("causal_align", [None, "bottom_right"])
def test_grouped_query_matches_sdpa_on_repeated_kv(backend, hq, hkv, causal_align):
    """Reference: SDPA on K/V heads repeated G = Hq / Hkv times (query head h uses K/V head h // G)."""
    q, k, v = _gqa(hq, hkv)
    kw = {"block_q": 8, "block_k": 16} if backend == "reference" else {}
    causal = causal_align is not None
    align = {"causal_align": causal_align} if causal else {}
    o = flash_attention(q, k, v, causal=causal, backend=backend, **align, **kw)
    g = hq // hkv
    keep = _keep(20, 44, causal, 44 - 20)
    ref = F.scaled_dot_product_attention(q, k.repeat_interleave(g, 1), v.repeat_interleave(g, 1), attn_mask=keep)
    torch.testing.assert_close(o, ref, **TIGHT)
    go = torch.randn_like(o)
    for name, a, b in zip("qkv", torch.autograd.grad(o, (q, k, v), go), torch.autograd.grad(ref, (q, k, v), go)):
        torch.testing.assert_close(a, b, **TIGHT, msg=f"d{name}")


def test_grouped_query_reference_never_copies_kv():
    """The tiled reference reads K/V as stored: no op sees a K/V-shaped tensor with Hq heads (or a G axis)."""
    from torch.profiler import ProfilerActivity, profile

    hq, hkv, nq, nk, d = 6, 2, 20, 44, 24
    q, k, v = _gqa(hq, hkv, nq, nk, d)
    key_lens = {nk, 16, nk % 16}                                  # full K and its tiles (query tiles: 8, 4)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        o, lse = flash_attention(q, k, v, causal=True, backend="reference", return_lse=True, block_q=8, block_k=16)
        (o.sum() + lse.sum()).backward()
    bad = []
    for e in prof.events():
        for shp in e.input_shapes or []:
            if (len(shp) == 4 and shp[1] == hq and shp[2] in key_lens and shp[3] == d) or \
               (len(shp) == 5 and shp[2] == hq // hkv and shp[3] in key_lens and shp[4] == d):
                bad.append((e.name, shp))
    assert bad == [], bad[:5]
    assert not any(e.name == "aten::repeat_interleave" for e in prof.events())


def test_grouped_query_bad_heads_clear_error():
    q, k, v = _gqa(6, 4)
    with pytest.raises(DanluError, match="Hkv = 4 must divide q heads H = 6"):
        flash_attention(q, k, v)
    with pytest.raises(DanluError, match="must divide"):
        from danlu.kernels.flash_attention import flash_attention_reference
        flash_attention_reference(q, k, v)
    q, k, _ = _gqa(6, 2)
    with pytest.raises(DanluError, match="batch and head dims"):
        flash_attention(q, k, torch.randn(1, 3, 44, 24, dtype=torch.float64))      # k and v disagree
