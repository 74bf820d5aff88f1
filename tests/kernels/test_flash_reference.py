"""flash_attention's reference backend vs torch SDPA (outputs and gradients), masks, memory, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.kernels import FLASH_BACKENDS, flash_attention
from danlu.kernels.memory import TensorMemoryTracker

SHAPES = [(200, 200, 16), (130, 257, 60), (257, 130, 64), (100, 100, 128), (1, 77, 64)]
TOL = {torch.float64: 1e-10, torch.float32: 1e-5}


def _qkv(nq, nk, d, dtype, seed=0, dv=None):
    g = torch.Generator().manual_seed(seed)
    mk = lambda n, dd: torch.randn(2, 3, n, dd, generator=g, dtype=dtype).requires_grad_()  # noqa: E731
    return mk(nq, d), mk(nk, d), mk(nk, dv or d)


def _grads(out, inputs, seed=1):
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=out.dtype)
    return torch.autograd.grad(out, inputs, g)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=str)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_flash_reference_matches_sdpa(shape, causal, dtype):
    nq, nk, d = shape
    q, k, v = _qkv(nq, nk, d, dtype)
    out = flash_attention(q, k, v, causal=causal, backend="reference", block_q=64, block_k=48)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    tol = TOL[dtype]
    torch.testing.assert_close(out, ref, rtol=tol, atol=tol)
    for a, b in zip(_grads(out, (q, k, v)), _grads(ref, (q, k, v))):
        torch.testing.assert_close(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize("blocks", [(1, 1), (16, 128), (128, 16), (512, 512)])
def test_flash_block_sizes_and_scale(blocks):
    q, k, v = _qkv(37, 45, 8, torch.float64, dv=5)
    out = flash_attention(q, k, v, causal=True, scale=0.3, backend="reference", block_q=blocks[0],
                          block_k=blocks[1])
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.3)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    for a, b in zip(_grads(out, (q, k, v)), _grads(ref, (q, k, v))):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_auto_on_cpu_is_sdpa_without_a_mask():
    q, k, v = _qkv(50, 50, 16, torch.float64)
    a = flash_attention(q, k, v, causal=True)
    b = flash_attention(q, k, v, causal=True, backend="sdpa")
    assert torch.equal(a, b)


def test_mask_matches_sdpa_and_fully_masked_rows_are_zero_in_every_cpu_backend():
    q, k, v = _qkv(40, 33, 16, torch.float64)
    g = torch.Generator().manual_seed(3)
    mask = torch.rand(2, 1, 40, 33, generator=g) > 0.4                   # (B, 1, Nq, Nk) broadcast over heads
    mask[:, :, 5] = False                                                # fully masked query rows
    mask[1, :, 20] = False
    live = mask.any(-1, keepdim=True)                                    # (B, 1, Nq, 1)
    safe = mask | ~live                                                  # SDPA gets NaN on dead rows otherwise
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=safe) * live
    ref_g = _grads(ref, (q, k, v))
    for backend in ["reference", "naive"]:
        out = flash_attention(q, k, v, backend=backend, mask=mask, block_q=16, block_k=8)
        assert torch.isfinite(out).all(), backend
        assert (out[:, :, 5] == 0).all() and (out[1, :, 20] == 0).all(), backend
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
        grads = _grads(out, (q, k, v))
        assert all(torch.isfinite(gr).all() for gr in grads), backend
        assert (grads[0][:, :, 5] == 0).all(), backend
        for a, b in zip(grads, ref_g):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_flash_reference_never_allocates_nq_by_nk():
    n, d = 1024, 32
    q, k, v = _qkv(n, n, d, torch.float32)
    with TensorMemoryTracker() as mem:
        out = flash_attention(q, k, v, causal=True, backend="reference", block_q=128, block_k=128)
        out.sum().backward()
    assert mem.largest_numel <= q.numel(), mem.largest_shape                # nothing bigger than (B, H, N, D)
    with TensorMemoryTracker() as naive:
        out = flash_attention(q, k, v, causal=True, backend="naive")
        out.sum().backward()
    assert naive.largest_numel >= 6 * n * n                               # the tracker does see (B, H, N, N)
    assert mem.peak_bytes * 4 < naive.peak_bytes, (mem.peak_bytes, naive.peak_bytes)


def test_float16_accumulates_in_float32():
    q, k, v = (t.detach().to(torch.bfloat16) for t in _qkv(70, 70, 32, torch.float32))
    out = flash_attention(q, k, v, causal=True, backend="reference", block_q=32, block_k=32)
    assert out.dtype == torch.bfloat16
    ref = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), is_causal=True)
    torch.testing.assert_close(out.float(), ref, rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    ("shapes", "match"),
    [
        (((2, 3, 10, 16), (2, 3, 10, 8), (2, 3, 10, 16)), r"q \(2, 3, 10, 16\) vs k \(2, 3, 10, 8\)"),
        (((2, 3, 10, 16), (2, 3, 12, 16), (2, 3, 11, 16)), r"k \(2, 3, 12, 16\) vs v \(2, 3, 11, 16\)"),
        (((2, 3, 10, 16), (2, 4, 10, 16), (2, 4, 10, 16)), r"q \(2, 3, 10, 16\), k \(2, 4, 10, 16\)"),
        (((3, 10, 16), (3, 10, 16), (3, 10, 16)), r"4-D .* \(3, 10, 16\)"),
    ],
)
def test_bad_shapes_name_both(shapes, match):
    q, k, v = (torch.randn(s) for s in shapes)
    with pytest.raises(DanluError, match=match):
        flash_attention(q, k, v)


def test_bad_dtype_mask_backend():
    q = torch.randn(1, 1, 4, 8)
    with pytest.raises(DanluError, match="share a dtype"):
        flash_attention(q, q.double(), q)
    with pytest.raises(DanluError, match="floating"):
        flash_attention(q.long(), q.long(), q.long())
    with pytest.raises(DanluError, match=r"mask of shape \(4, 5\).*\(1, 1, 4, 4\)"):
        flash_attention(q, q, q, mask=torch.ones(4, 5, dtype=torch.bool))
    with pytest.raises(DanluError, match="bool"):
        flash_attention(q, q, q, mask=torch.ones(4, 4))
    with pytest.raises(DanluError, match="unknown flash_attention backend 'nope'"):
        flash_attention(q, q, q, backend="nope")
    with pytest.raises(DanluError, match="triton"):
        flash_attention(q, q, q, backend="triton")
    assert {"reference", "triton", "naive"} <= set(FLASH_BACKENDS.names())
