"""flash_attention(backend="auto") on CPU takes SDPA where SDPA is exact and the reference elsewhere.

Reference: the textbook softmax attention (``backend="naive"``) in float64, outputs and gradients.
"""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.kernels import flash_attention
from danlu.kernels.flash_attention import _auto_backend


def _qkv(nq=37, nk=37, d=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(2, 3, n, d, generator=g, dtype=torch.float64, requires_grad=True) for n in (nq, nk, nk)]


def test_auto_picks_sdpa_without_mask_and_reference_for_dead_rows():
    q, k, v = _qkv()
    assert _auto_backend(q, k, v, True, None, {}) == "sdpa"
    keep = torch.ones(37, 37, dtype=torch.bool)
    assert _auto_backend(q, k, v, False, keep, {}) == "sdpa"
    keep[5] = False  # query row 5 attends to no key: SDPA would give NaN, the reference gives zeros
    assert _auto_backend(q, k, v, False, keep, {}) == "reference"
    assert _auto_backend(q, k, v, True, torch.ones(37, 37, dtype=torch.bool), {}) == "reference"
    assert _auto_backend(q, k, v, False, None, {"block_q": 16}) == "reference"


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("shape", [(37, 37), (5, 29), (29, 5)])
def test_auto_equals_naive_outputs_and_gradients(causal, shape):
    q, k, v = _qkv(*shape)
    out = flash_attention(q, k, v, causal=causal)
    ref = flash_attention(q, k, v, causal=causal, backend="naive")
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    g = torch.randn_like(out)
    got = torch.autograd.grad(out, (q, k, v), g)
    want = torch.autograd.grad(ref, (q, k, v), g)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_auto_with_dead_rows_gives_zeros_not_nan():
    q, k, v = _qkv()
    keep = torch.rand(2, 1, 37, 37, generator=torch.Generator().manual_seed(1)) > 0.3
    keep[0, 0, 3] = False
    out = flash_attention(q, k, v, mask=keep)
    assert torch.isfinite(out).all() and out[0, :, 3].abs().max() == 0
    torch.testing.assert_close(out, flash_attention(q, k, v, mask=keep, backend="naive"))


def test_sdpa_backend_refuses_reference_kwargs():
    q, k, v = _qkv()
    with pytest.raises(DanluError, match="sdpa"):
        flash_attention(q, k, v, backend="sdpa", block_q=16)
