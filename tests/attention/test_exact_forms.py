"""Each module kind against an explicit dense reference with the same weights (float64)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from danlu.attention import create_attention, nadaraya_watson, sparse_mask
from danlu.attention.kinds.nw import NadarayaWatsonRegression
from danlu.kernels.flash_attention import softmax_attention_naive

DIM, HEADS = 16, 2
TOL = dict(rtol=1e-10, atol=1e-10)


def _x(n, b=2, seed=0):
    return torch.randn(b, n, DIM, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _make(kind, causal=False, **kw):
    torch.manual_seed(0)
    return create_attention(kind, dim=DIM, heads=HEADS, causal=causal, dtype=torch.float64, **kw)


def _dense(m, x, keep, *, scores=None):
    """Reference: projections of ``m``, softmax over ``keep`` (1|B, 1, N, N), output projection."""
    q, k, v = m.split(x)
    if scores is None:
        o = softmax_attention_naive(q, k, v, mask=keep)
    else:
        s = scores(q, k).masked_fill(~keep, float("-inf"))
        o = torch.softmax(s, -1).nan_to_num(0.0) @ v
    return m.proj(o.transpose(1, 2).reshape(x.shape))


@pytest.mark.parametrize("causal", [False, True])
def test_softmax_kind_equals_sdpa(causal):
    m, x = _make("softmax", causal), _x(45)
    q, k, v = m.split(x)
    ref = m.proj(F.scaled_dot_product_attention(q, k, v, is_causal=causal).transpose(1, 2).reshape(x.shape))
    torch.testing.assert_close(m(x), ref, **TOL)


@pytest.mark.parametrize("pattern", ["local", "strided", "block"])
@pytest.mark.parametrize("causal", [False, True])
def test_sparse_equals_dense_with_the_same_mask(pattern, causal):
    n = 100
    m, x = _make("sparse", causal, pattern=pattern, window=7, stride=9, block=16, global_tokens=2, tile=16), _x(n)
    keep = sparse_mask(pattern, n, window=7, stride=9, block=16, global_tokens=2)
    if causal:
        keep = keep & torch.tril(torch.ones(n, n, dtype=torch.bool))
    out = m(x)
    torch.testing.assert_close(out, _dense(m, x, keep[None, None]), **TOL)
    g_out = torch.autograd.grad(out.sum(), m.qkv.weight)[0]
    g_ref = torch.autograd.grad(_dense(m, x, keep[None, None]).sum(), m.qkv.weight)[0]
    torch.testing.assert_close(g_out, g_ref, **TOL)


def test_sparse_pattern_densities():
    n = 64
    assert sparse_mask("local", n, window=4).sum() == sum(min(n, i + 4) - max(0, i - 3) for i in range(n))
    blk = sparse_mask("block", n, block=16)
    assert blk.sum() == 4 * 16 * 16 and blk[0, 15] and not blk[0, 16]
    st = sparse_mask("strided", n, stride=8)
    assert st[40, 0] and st[40, 33] and not st[40, 31]


@pytest.mark.parametrize("causal", [False, True])
def test_diag_attention_equals_block_diagonal_dense(causal):
    n, blk = 50, 16
    m, x = _make("transnormer_diag", causal, block_size=blk), _x(n)
    keep = sparse_mask("block", n, block=blk)
    if causal:
        keep = keep & torch.tril(torch.ones(n, n, dtype=torch.bool))
    torch.testing.assert_close(m(x), _dense(m, x, keep[None, None]), **TOL)


@pytest.mark.parametrize("causal", [False, True])
def test_linear_kind_equals_quadratic_formula(causal):
    m, x = _make("linear", causal), _x(40)
    q, k, v = m.split(x)
    qf, kf = F.elu(q) + 1, F.elu(k) + 1
    a = qf @ kf.transpose(-1, -2)                                             # (B, H, N, N)
    if causal:
        a = torch.tril(a)
    o = (a @ v) / a.sum(-1, keepdim=True)
    torch.testing.assert_close(m(x), m.proj(o.transpose(1, 2).reshape(x.shape)), **TOL)


def test_transnormer_norm_attention_formula():
    m, x = _make("transnormer", True), _x(40)
    q, k, v = m.split(x)
    a = torch.tril((F.elu(q) + 1) @ (F.elu(k) + 1).transpose(-1, -2))
    o = (a @ v).transpose(1, 2).reshape(x.shape)                              # no denominator
    ref = m.proj(o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + torch.finfo(o.dtype).eps) * m.norm.weight)
    torch.testing.assert_close(m(x), ref, **TOL)


def test_nw_kind_equals_gaussian_kernel_softmax():
    m, x = _make("nw", True), _x(30)
    keep = torch.tril(torch.ones(30, 30, dtype=torch.bool))[None, None]
    w = m.width[:, None, None]
    ref = _dense(m, x, keep, scores=lambda q, k: -(w ** 2) * torch.cdist(q, k) ** 2 / 2)
    torch.testing.assert_close(m(x), ref, **TOL)


def test_performer_approximates_softmax_attention():
    x = _x(64) * 0.5
    exact = _make("softmax", True)
    errs = {}
    for m_feat in (16, 1024):
        p = _make("performer", True, num_features=m_feat)
        p.load_state_dict(exact.state_dict(), strict=False)
        errs[m_feat] = ((p(x) - exact(x)).norm() / exact(x).norm()).item()
    assert errs[1024] < 0.05 and errs[1024] < errs[16] / 2, errs


def test_performer_redraws_on_schedule_in_training_only():
    p = _make("performer", False, redraw_interval=2, num_features=8)
    w0 = p.fmap.projection.clone()
    p.eval()
    for _ in range(5):
        p(_x(5))
    assert torch.equal(p.fmap.projection, w0)
    p.train()
    p(_x(5))
    p(_x(5))
    assert torch.equal(p.fmap.projection, w0)                                # steps 0, 1: no redraw yet
    p(_x(5))
    assert not torch.equal(p.fmap.projection, w0)                            # step 2: redrawn


def _gau_dense(m, x, chunk):
    """FLASH's mixed-chunk attention written as one dense (N, N) matrix: relu²(q k^T / C) inside chunks
    (+ causal), lin_q lin_k^T / C to earlier chunks (causal) or lin_q lin_k^T / N to all (non-causal)."""
    n = x.shape[1]
    u, v, z = F.silu(m.to_uvz(x)).split([m.e, m.e, m.s], -1)
    qq, kq, ql, kl = m.offsets(z)
    same = (torch.arange(n)[:, None] // chunk) == (torch.arange(n)[None, :] // chunk)
    before = (torch.arange(n)[:, None] // chunk) > (torch.arange(n)[None, :] // chunk)
    quad = F.relu(qq @ kq.transpose(-1, -2) / chunk) ** 2 * same
    if m.causal:
        quad = torch.tril(quad)
        lin = (ql @ kl.transpose(-1, -2)) / chunk * before
    else:
        lin = (ql @ kl.transpose(-1, -2)) / n
    return m.out(u * ((quad + lin) @ v))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("n", [48, 53])
def test_flash_gau_mixed_chunk_equals_dense_formula(causal, n):
    m, x = _make("flash_gau", causal, chunk_size=16), _x(n)
    torch.testing.assert_close(m(x), _gau_dense(m, x, 16), **TOL)


def test_gau_quadratic_formula_and_single_chunk_flash():
    n = 32
    g, x = _make("gau", True), _x(n)
    u, v, z = F.silu(g.to_uvz(x)).split([g.e, g.e, g.s], -1)
    q, k = g.offsets(z)
    ref = g.out(u * (torch.tril(F.relu(q @ k.transpose(-1, -2) / n) ** 2) @ v))
    torch.testing.assert_close(g(x), ref, **TOL)
    f = _make("flash_gau", True, chunk_size=n)                                # one chunk: no linear term
    with torch.no_grad():
        f.to_uvz.load_state_dict(g.to_uvz.state_dict())
        f.out.load_state_dict(g.out.state_dict())
        f.offsets.gamma[:2] = g.offsets.gamma
        f.offsets.beta[:2] = g.offsets.beta
    torch.testing.assert_close(f(x), g(x), **TOL)


def test_nadaraya_watson_closed_form():
    g = torch.Generator().manual_seed(0)
    xk, yk, xq = torch.rand(30, generator=g, dtype=torch.float64), torch.rand(30, generator=g,
                                                                              dtype=torch.float64), torch.rand(7, generator=g, dtype=torch.float64)
    w = 3.0
    kern = [[math.exp(-((w * (a - b)) ** 2) / 2) for b in xk.tolist()] for a in xq.tolist()]
    want = torch.tensor([sum(kk * y for kk, y in zip(row, yk.tolist())) / sum(row) for row in kern],
                        dtype=torch.float64)
    torch.testing.assert_close(nadaraya_watson(xq, xk, yk, w), want, **TOL)
    reg = NadarayaWatsonRegression(width=w, learn_width=False).double()
    torch.testing.assert_close(reg(xq, xk, yk), want, **TOL)
    assert len(list(reg.parameters())) == 0 and len(list(NadarayaWatsonRegression().parameters())) == 1
