"""fake_quantize / lsq_fake_quantize against torch's fake-quant ops: outputs and gradients bit for bit."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError
from danlu.quant.fake_quant import fake_quantize, lsq_fake_quantize


def _inputs() -> torch.Tensor:
    torch.manual_seed(0)
    s = 0.037
    ties = (torch.arange(-300, 300) + 0.5) * s  # exact .5 ties of x/S, where rounding modes differ
    return torch.cat([torch.randn(4000) * 4, ties, torch.tensor([0.0, 1e6, -1e6])])


@pytest.mark.parametrize("qmin,qmax,zp", [(0, 255, 3), (-128, 127, 0), (-7, 7, 0)])
def test_per_tensor_output_and_grad_equal_torch(qmin: int, qmax: int, zp: int) -> None:
    x = _inputs().requires_grad_(True)
    s, z = torch.tensor([0.037]), torch.tensor([zp])
    ours = fake_quantize(x, s, z, qmin, qmax)
    ref = torch.fake_quantize_per_tensor_affine(x, s, z.int(), qmin, qmax)
    assert torch.equal(ours, ref)
    g = torch.randn_like(x)
    (g_ours,), (g_ref,) = torch.autograd.grad(ours, x, g), torch.autograd.grad(ref, x, g)
    assert torch.equal(g_ours, g_ref)
    assert (g_ours == 0).any() and (g_ours != 0).any()  # both clamp regimes exercised


@pytest.mark.parametrize("axis", [0, 1])
def test_per_channel_output_and_grad_equal_torch(axis: int) -> None:
    torch.manual_seed(1)
    w = (torch.randn(8, 6, 3, 3) * 3).requires_grad_(True)
    c = w.shape[axis]
    s, z = torch.rand(c) * 0.05 + 0.01, torch.randint(-3, 4, (c,))
    ours = fake_quantize(w, s, z, -128, 127, axis=axis)
    ref = torch.fake_quantize_per_channel_affine(w, s, z.int(), axis, -128, 127)
    assert torch.equal(ours, ref)
    g = torch.randn_like(w)
    assert torch.equal(torch.autograd.grad(ours, w, g)[0], torch.autograd.grad(ref, w, g)[0])


@pytest.mark.parametrize("zp", [0.0, 3.0])
def test_lsq_equals_torch_learnable(zp: float) -> None:
    torch.manual_seed(2)
    x = (torch.randn(2000) * 2).requires_grad_(True)
    s1 = torch.tensor([0.05], requires_grad=True)
    s2 = s1.detach().clone().requires_grad_(True)
    z2 = torch.tensor([zp], requires_grad=True)
    ours = lsq_fake_quantize(x, s1, torch.tensor([zp]), -8, 7, grad_factor=0.3)
    ref = torch._fake_quantize_learnable_per_tensor_affine(x, s2, z2, -8, 7, 0.3)
    assert torch.equal(ours, ref)
    g = torch.randn_like(x)
    gx, gs = torch.autograd.grad(ours, [x, s1], g)
    rx, rs, _ = torch.autograd.grad(ref, [x, s2, z2], g)
    assert torch.equal(gx, rx)
    assert torch.allclose(gs, rs, rtol=1e-5, atol=1e-6)  # sums in a different order


def test_bad_scale_refused() -> None:
    x = torch.randn(4)
    with pytest.raises(DanluError, match="scale"):
        fake_quantize(x, torch.tensor([0.0]), torch.tensor([0]), 0, 255)
    with pytest.raises(DanluError, match="scale"):
        fake_quantize(x, torch.tensor([float("nan")]), torch.tensor([0]), 0, 255)
    with pytest.raises(DanluError, match="channels"):
        fake_quantize(torch.randn(3, 4), torch.ones(5), torch.zeros(5, dtype=torch.long), -8, 7, axis=0)
