"""S4D (arXiv:2206.11893): the FFT convolution equals the recurrent form to 1e-10 in float64 (outputs
and gradients), the kernel equals a direct causal conv1d reference, the inits equal the paper's closed
forms, and the layer is causal (or sees the future when bidirectional)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.ssm.s4d import S4D, S4D_INITS, fft_conv, s4d_kernel, s4d_recurrence


def params(H=3, n_half=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    dt = torch.rand(H, generator=g, dtype=torch.float64) * 0.2 + 0.01
    A = torch.complex(-torch.rand(H, n_half, generator=g, dtype=torch.float64) - 0.1,
                      torch.randn(H, n_half, generator=g, dtype=torch.float64) * 3)
    C = torch.complex(torch.randn(H, n_half, generator=g, dtype=torch.float64),
                      torch.randn(H, n_half, generator=g, dtype=torch.float64))
    return dt, A, C


@pytest.mark.parametrize("L", [1, 17, 63])
def test_fft_convolution_equals_recurrence_float64(L):
    dt, A, C = params(seed=L)
    u = torch.randn(2, 3, L, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    conv = fft_conv(u, s4d_kernel(dt, A, C, L))
    rec = s4d_recurrence(u, dt, A, C)
    assert (conv - rec).abs().max() < 1e-10


def test_fft_convolution_gradients_equal_recurrence():
    L = 31
    dt, A, C = params(seed=4)
    u = torch.randn(2, 3, L, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    w = torch.randn(2, 3, L, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    grads = []
    for form in ("conv", "rec"):
        leaves = [t.clone().requires_grad_() for t in (u, dt, A, C)]
        y = fft_conv(leaves[0], s4d_kernel(*leaves[1:], L)) if form == "conv" else s4d_recurrence(*leaves)
        grads.append(torch.autograd.grad((y * w).sum(), leaves))
    for name, a, b in zip(("u", "dt", "A", "C"), *grads):
        assert (a - b).abs().max() < 1e-10, name


def test_kernel_equals_direct_causal_conv1d():
    """torch conv1d (cross-correlation with the flipped kernel, left padding) as the reference convolution."""
    L = 20
    dt, A, C = params(seed=7)
    K = s4d_kernel(dt, A, C, L)
    u = torch.randn(2, 3, L, dtype=torch.float64)
    ref = F.conv1d(F.pad(u, (L - 1, 0)), K.flip(-1)[:, None], groups=3)
    torch.testing.assert_close(fft_conv(u, K), ref, atol=1e-12, rtol=0)


def test_inits_closed_forms():
    n = torch.arange(4, dtype=torch.float64)
    lin, inv, real = (S4D_INITS.get(k)(4) for k in ("lin", "inv", "real"))
    torch.testing.assert_close(lin.imag, math.pi * n)
    torch.testing.assert_close(inv.imag, 8 / math.pi * (8 / (2 * n + 1) - 1))
    assert (lin.real == -0.5).all() and (inv.real == -0.5).all()
    torch.testing.assert_close(real.real, -(n + 1))


@pytest.mark.parametrize("init", ["lin", "inv", "real"])
def test_layer_is_causal_and_bidirectional_sees_the_future(init):
    torch.manual_seed(0)
    x = torch.randn(2, 24, 8, requires_grad=True)
    causal = S4D(8, 16, init=init)
    g = torch.autograd.grad(causal(x)[:, 10].sum(), x)[0]
    assert g[:, 11:].abs().max() < 1e-6 * g[:, :11].abs().max()                  # FFT rounding only
    bi = S4D(8, 16, init=init, bidirectional=True)
    g = torch.autograd.grad(bi(x)[:, 10].sum(), x)[0]
    assert g[:, 11:].abs().max() > 1e-3 * g[:, :11].abs().max()


def test_bidirectional_kernel_equals_two_recurrences():
    """y = forward scan of u + backward scan (strictly future) of u, each an S4D recurrence, + D u."""
    layer = S4D(4, 8, bidirectional=True).double()
    u = torch.randn(1, 4, 15, dtype=torch.float64)
    Kf, Kb = layer.kernel(15), layer.kernel_back(15)
    Kfull = F.pad(Kf, (15, 0)) + F.pad(Kb.flip(-1), (0, 15))
    fwd = s4d_recurrence(u, *layer.kernel.params())
    # Kb[0] is lag -1: the strict-future part is the backward scan shifted by one step
    shifted = torch.zeros_like(u)
    shifted[..., :-1] = s4d_recurrence(u.flip(-1), *layer.kernel_back.params()).flip(-1)[..., 1:]
    torch.testing.assert_close(fft_conv(u, Kfull), fwd + shifted, atol=1e-10, rtol=0)


def test_layer_dropout_and_shapes():
    layer = S4D(8, 16, dropout=0.5)
    x = torch.randn(3, 10, 8)
    layer.train()
    a, b = layer(x), layer(x)
    assert a.shape == (3, 10, 8) and not torch.equal(a, b)
    layer.eval()
    assert torch.equal(layer(x), layer(x))


def test_bad_input():
    with pytest.raises(DanluError, match="d_state must be an even"):
        S4D(4, 7)
    with pytest.raises(DanluError, match=r"\(B, L, H=4\), got \(2, 5, 3\)"):
        S4D(4, 8)(torch.zeros(2, 5, 3))
    with pytest.raises(DanluError, match="unknown S4D initialisation 'legs'"):
        S4D(4, 8, init="legs")
