"""linear_attention forms vs the explicit quadratic form (outputs, gradients, states), feature maps, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from danlu.errors import DanluError
from danlu.kernels import LINEAR_BACKENDS, LinearAttentionState, linear_attention
from danlu.kernels.linear_attention import PerformerFeatureMap
from danlu.kernels.linear_attention.feature_maps import gaussian_projection, performer_features
from danlu.kernels.memory import TensorMemoryTracker

MAPS = ["elu1", "relu", "identity", "performer"]


def _qkv(n=63, d=12, dv=7, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(2, 3, n, dd, generator=g, dtype=dtype).requires_grad_() for dd in (d, d, dv))


def _grads(out, inputs):
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(9), dtype=out.dtype)
    return torch.autograd.grad(out, inputs, g)


def _assert_same(a, b, tol=1e-10):
    torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("feature_map", MAPS)
@pytest.mark.parametrize(("backend", "chunk"), [("chunked", 16), ("chunked", 1), ("chunked", 100),
                                                 ("recurrent", 0), ("auto", 64)])
def test_causal_forms_equal_quadratic(backend, chunk, feature_map, normalize):
    if feature_map == "identity" and normalize:
        pytest.skip("identity features give a sign-changing normalizer: the ratio is ill-conditioned")
    q, k, v = _qkv()
    kw = dict(causal=True, feature_map=feature_map, normalize=normalize, return_state=True)
    ref, ref_state = linear_attention(q, k, v, backend="quadratic", **kw)
    out, state = linear_attention(q, k, v, backend=backend, chunk_size=max(chunk, 1), **kw)
    _assert_same(out, ref)
    _assert_same(state.kv, ref_state.kv)
    _assert_same(state.k_sum, ref_state.k_sum)
    for a, b in zip(_grads(out, (q, k, v)), _grads(ref, (q, k, v))):
        _assert_same(a, b)


@pytest.mark.parametrize("feature_map", MAPS)
@pytest.mark.parametrize("backend", ["parallel", "chunked", "auto"])
def test_noncausal_forms_equal_quadratic(backend, feature_map):
    q, k, v = _qkv(n=50)
    kw = dict(causal=False, feature_map=feature_map, normalize=feature_map != "identity")
    ref = linear_attention(q, k, v, backend="quadratic", **kw)
    out = linear_attention(q, k, v, backend=backend, **kw)
    _assert_same(out, ref)
    for a, b in zip(_grads(out, (q, k, v)), _grads(ref, (q, k, v))):
        _assert_same(a, b)


def test_quadratic_form_is_the_textbook_formula():
    q, k, v = (t.detach() for t in _qkv(n=20, d=4, dv=3))
    qf, kf = torch.nn.functional.elu(q) + 1, torch.nn.functional.elu(k) + 1
    out = linear_attention(q, k, v, backend="quadratic")
    for i in (0, 7, 19):                                                    # o_i = Σ_j<=i s_ij v_j / Σ_j<=i s_ij
        s = (qf[:, :, i:i + 1] * kf[:, :, :i + 1]).sum(-1)                  # (B, H, i+1)
        want = (s[..., None] * v[:, :, :i + 1]).sum(2) / s.sum(-1, keepdim=True)
        _assert_same(out[:, :, i], want)


@pytest.mark.parametrize("backend", ["recurrent", "chunked", "quadratic"])
def test_streaming_in_pieces_equals_whole(backend):
    q, k, v = (t.detach() for t in _qkv(n=70))
    whole = linear_attention(q, k, v, backend="quadratic")
    state, pieces = None, []
    for a, b in [(0, 1), (1, 30), (30, 31), (31, 70)]:
        o, state = linear_attention(q[:, :, a:b], k[:, :, a:b], v[:, :, a:b], backend=backend, chunk_size=8,
                                    initial_state=state, return_state=True)
        pieces.append(o)
    assert isinstance(state, LinearAttentionState)
    assert state.kv.shape == (2, 3, 12, 7) and state.k_sum.shape == (2, 3, 12)
    _assert_same(torch.cat(pieces, 2), whole)


@pytest.mark.parametrize("backend", ["quadratic", "parallel", "recurrent", "chunked", "auto"])
def test_zero_normalizer_rows_are_zero_not_nan(backend):
    q, k, v = _qkv(n=40)
    causal = backend not in ("parallel",)
    with torch.no_grad():
        q[:, :, 3] = -1.0                                                   # relu(q_3) = 0: attends to nothing
        k[:, :, :2] = -1.0                                                  # first keys have zero features too
    out = linear_attention(q, k, v, causal=causal, feature_map="relu", backend=backend, chunk_size=8)
    assert torch.isfinite(out).all()
    assert (out[:, :, 3] == 0).all()
    if causal:
        assert (out[:, :, :2] == 0).all()                                   # only zero keys visible yet
    grads = _grads(out, (q, k, v))
    assert all(torch.isfinite(g).all() for g in grads)


def test_chunked_memory_is_linear():
    q, k, v = (t.detach() for t in _qkv(n=2048, d=16, dv=16, dtype=torch.float32))
    peaks = {}
    for backend in ("quadratic", "chunked"):
        with TensorMemoryTracker() as mem:
            linear_attention(q, k, v, backend=backend, chunk_size=64)
        peaks[backend] = mem.peak_bytes
    assert peaks["chunked"] * 10 < peaks["quadratic"], peaks


def test_performer_features_estimate_softmax_kernel():
    """Unbiased estimator of exp(x·y/√d): the mean relative error shrinks like 1/√m (iid and orthogonal)."""
    d = 16
    g = torch.Generator().manual_seed(0)
    x = torch.randn(20, d, generator=g, dtype=torch.float64) * 0.5
    y = torch.randn(20, d, generator=g, dtype=torch.float64) * 0.5
    exact = torch.exp(x @ y.T / math.sqrt(d))                                # the softmax kernel
    for orthogonal in (True, False):
        errs = []
        for m in (256, 16384):
            w = gaussian_projection(m, d, orthogonal=orthogonal, generator=g, dtype=torch.float64)
            est = performer_features(x, w) @ performer_features(y, w).T
            errs.append(((est - exact).abs() / exact).mean().item())
            assert (performer_features(x, w) > 0).all()
        assert errs[1] < 0.03 and errs[1] < errs[0] / 3, (orthogonal, errs)


def test_orthogonal_projection_rows_are_orthogonal_within_blocks():
    w = gaussian_projection(24, 8, orthogonal=True, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    block = w[:8] / w[:8].norm(dim=1, keepdim=True)
    _assert_same(block @ block.T, torch.eye(8, dtype=torch.float64))


def test_performer_map_redraw_changes_projection():
    fm = PerformerFeatureMap(8, num_features=16, seed=0)
    before = fm.projection.clone()
    fm.redraw()
    assert fm.projection.shape == before.shape and not torch.equal(fm.projection, before)
    assert torch.equal(PerformerFeatureMap(8, num_features=16, seed=0).projection, before)


def test_bad_input():
    q, k, v = (t.detach() for t in _qkv(n=10))
    with pytest.raises(DanluError, match=r"q \(2, 3, 10, 12\) vs k \(2, 3, 9, 12\)"):
        linear_attention(q, k[:, :, :9], v[:, :, :9])
    with pytest.raises(DanluError, match=r"k \(2, 3, 10, 12\) vs v \(2, 3, 9, 7\)"):
        linear_attention(q, k, v[:, :, :9])
    with pytest.raises(DanluError, match="non-causal only"):
        linear_attention(q, k, v, causal=True, backend="parallel")
    with pytest.raises(DanluError, match="causal only"):
        linear_attention(q, k, v, causal=False, backend="recurrent")
    bad = LinearAttentionState(torch.zeros(2, 3, 12, 5), torch.zeros(2, 3, 12))
    with pytest.raises(DanluError, match=r"kv \(2, 3, 12, 5\).*kv \(2, 3, 12, 7\)"):
        linear_attention(q, k, v, initial_state=bad)
    with pytest.raises(DanluError, match="chunk_size"):
        linear_attention(q, k, v, chunk_size=0, backend="chunked")
    with pytest.raises(DanluError, match="unknown feature map 'softplus'"):
        linear_attention(q, k, v, feature_map="softplus")
    with pytest.raises(DanluError, match="triton"):
        linear_attention(q, k, v, backend="triton")
    assert {"quadratic", "parallel", "recurrent", "chunked", "triton"} <= set(LINEAR_BACKENDS.names())
