"""Fake quantization with the straight-through estimator (Jacob et al. 2018, sec. 3.1; eq. 12).

``fake_quantize(x, S, Z, qmin, qmax)`` returns ``S * (clamp(round(x / S) + Z, qmin, qmax) - Z)``:
a float tensor that holds exactly the values an integer tensor can represent. Its gradient is
the straight-through estimator: 1 where the rounded code lies inside ``[qmin, qmax]`` and 0 where
it was clamped. Output and gradient equal ``torch.fake_quantize_per_tensor_affine`` and
``torch.fake_quantize_per_channel_affine`` bit for bit, including their arithmetic:
``x * (1 / S)`` (a float32 reciprocal, then a product), round half to even (``nearbyint``), the
mask taken on the rounded code before clamping.

``lsq_fake_quantize`` is the learnable-step-size variant (Esser et al. 2020, "LSQ",
arXiv:1902.08153): the same forward; the scale receives the gradient
``round(x/S) - x/S`` inside the range and ``qmin - Z`` / ``qmax - Z`` outside, times
``grad_factor`` (``torch._fake_quantize_learnable_per_tensor_affine``).

Shapes: ``x`` any; per-tensor ``scale``/``zero_point`` are scalars or (1,); per-channel they
are (C,) with ``C = x.shape[axis]``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from danlu.errors import DanluError
from danlu.quant.qparams import check_scale


def _broadcast(t: Tensor, x: Tensor, axis: int | None) -> Tensor:
    if axis is None:
        return t.reshape(())
    if t.numel() != x.shape[axis]:
        raise DanluError(f"per-channel scale has {t.numel()} entries but the input has {x.shape[axis]} channels "
                         f"along axis {axis}")
    shape = [1] * x.dim()
    shape[axis] = -1
    return t.reshape(shape)


def quantize(x: Tensor, scale: Tensor, zero_point: Tensor, qmin: int, qmax: int,
             axis: int | None = None) -> tuple[Tensor, Tensor]:
    """Integer codes (as floats of ``x``'s dtype) and the in-range mask.

    ``q = clamp(round(x * (1/S)) + Z, qmin, qmax)``; ``mask`` is True where no clamping happened.
    """
    s = _broadcast(scale.to(x.dtype), x, axis)
    z = _broadcast(zero_point.to(x.dtype), x, axis)
    q = torch.round(x * (1.0 / s)) + z
    mask = (q >= qmin) & (q <= qmax)
    return q.clamp(qmin, qmax), mask


class _FakeQuantSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: Tensor, zero_point: Tensor, qmin: int, qmax: int,
                axis: int | None) -> Tensor:
        q, mask = quantize(x, scale, zero_point, qmin, qmax, axis)
        ctx.save_for_backward(mask)
        s = _broadcast(scale.to(x.dtype), x, axis)
        z = _broadcast(zero_point.to(x.dtype), x, axis)
        return (q - z) * s

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        (mask,) = ctx.saved_tensors
        return grad * mask, None, None, None, None, None


def fake_quantize(x: Tensor, scale: Tensor, zero_point: Tensor, qmin: int, qmax: int,
                  axis: int | None = None) -> Tensor:
    """Quantize-dequantize ``x`` (STE gradient, see the module doc). ``axis`` None = per tensor."""
    check_scale(scale, "fake_quantize scale")
    if qmin >= qmax:
        raise DanluError(f"fake_quantize needs qmin < qmax, got [{qmin}, {qmax}]")
    return _FakeQuantSTE.apply(x, scale.detach(), zero_point.detach(), int(qmin), int(qmax), axis)


class _LSQ(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, scale: Tensor, z: float, qmin: int, qmax: int, grad_factor: float) -> Tensor:
        inv = 1.0 / scale
        t = x * inv
        q = torch.round(t) + z
        inside = (q >= qmin) & (q <= qmax)
        qc = q.clamp(qmin, qmax)
        ctx.save_for_backward(t, inside, qc)
        ctx.z, ctx.grad_factor = z, grad_factor
        return (qc - z) * scale

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        t, inside, qc = ctx.saved_tensors
        dscale = torch.where(inside, torch.round(t) - t, qc - ctx.z)  # d out / d S (LSQ eq. 3)
        return grad * inside, (grad * dscale).sum().reshape(1) * ctx.grad_factor, None, None, None, None


def lsq_fake_quantize(x: Tensor, scale: Tensor, zero_point: Tensor, qmin: int, qmax: int,
                      grad_factor: float = 1.0) -> Tensor:
    """LSQ fake quantization, per tensor: differentiable in ``x`` (STE) and in ``scale`` (see module doc).

    ``scale`` has shape (1,). The zero point is used rounded and clamped (as torch does) and
    receives no gradient here.
    """
    check_scale(scale.detach(), "lsq scale")
    z = float(torch.round(zero_point.detach().float().reshape(())).clamp(qmin, qmax))
    return _LSQ.apply(x, scale.reshape(1), z, int(qmin), int(qmax), float(grad_factor))
