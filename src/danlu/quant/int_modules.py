"""Modules of the integer-only runtime (Jacob et al. 2018, sec. 2).

Each module maps int64 codes to int64 codes: int8/uint8 values, int32 accumulators, bias in
int32 with scale ``S_in S_w``, and requantisation ``Z_out + round(M0 * acc / 2^shift)``
(``danlu.quant.fixed_point``) followed by the fused ReLU/ReLU6 clamp. Parameters are stored
compactly (int8 weights, int32 bias and multipliers, int8 shifts) and widened to int64 to compute.
Only ``IntQuantize`` (network input) touches floating point.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.quant.fake_quant import quantize
from danlu.quant.fixed_point import quantize_multiplier, quantize_multipliers, rounding_right_shift
from danlu.quant.int_ops import int_conv2d, int_linear, int_max_pool2d
from danlu.quant.qat_modules import (
    INT32_MAX,
    INT32_MIN,
    QATAdd,
    QATAvgPool,
    QATModule,
    QATWeighted,
    QuantStub,
)

INT16_MAX = 2**15 - 1


def _clamp_bounds(qat: QATModule) -> tuple[int, int]:
    """Output code range after the fused activation (ReLU: codes >= Z; ReLU6: codes <= code of 6.0)."""
    scheme = qat.out_fq.scheme
    s, z = qat.out_fq.qparams()
    lo, hi = scheme.qmin, scheme.qmax
    act = getattr(qat, "act", None)
    if act in ("relu", "relu6"):
        lo = max(lo, int(z))
    if act == "relu6":
        hi = int(quantize(torch.tensor([6.0]), s, z, scheme.qmin, scheme.qmax)[0])
    return lo, hi


class IntModule(nn.Module):
    """Base: output zero point and clamp bounds as int buffers."""

    def _init_out(self, qat: QATModule) -> None:
        _, z = qat.out_fq.qparams()
        lo, hi = _clamp_bounds(qat)
        self.register_buffer("out_zp", torch.tensor(int(z), dtype=torch.int32))
        self.register_buffer("clamp", torch.tensor([lo, hi], dtype=torch.int32))

    def _finish(self, r: Tensor) -> Tensor:
        lo, hi = int(self.clamp[0]), int(self.clamp[1])
        return (r + int(self.out_zp)).clamp(lo, hi)


class IntQuantize(IntModule):
    """Float input (any shape) -> codes: ``clamp(round(x / S) + Z)`` (the one floating-point step)."""

    def __init__(self, qat: QuantStub) -> None:
        super().__init__()
        s, z = qat.out_fq.qparams()
        self.register_buffer("scale", s.clone())
        self.register_buffer("zero_point", z.to(torch.int32))
        self.qmin, self.qmax = qat.out_fq.scheme.qmin, qat.out_fq.scheme.qmax

    def forward(self, x: Tensor) -> Tensor:
        return quantize(x, self.scale, self.zero_point.long(), self.qmin, self.qmax)[0].long()


class IntWeighted(IntModule):
    """Conv2d/Linear with folded BN: codes (B, C, H, W) or (B, F) -> output codes."""

    def __init__(self, qat: QATWeighted, name: str = "") -> None:
        super().__init__()
        if len(qat.inputs) != 1:
            raise DanluError(f"convert: {name} has no quantized input; run prepare_qat's output, not a hand-built module")
        self.kind, self.stride, self.padding = qat.kind, qat.stride, qat.padding
        with torch.no_grad():
            w, b = qat.folded()
            s_in, z_in = qat.inputs[0].qparams()
            s_w, _ = qat.weight_fq.qparams()
            s_out, _ = qat.out_fq.qparams()
            ws = qat.weight_fq.scheme
            qw = quantize(w, s_w.expand(w.shape[0]).contiguous(), torch.zeros(w.shape[0], dtype=torch.int64),
                          ws.qmin, ws.qmax, axis=0)[0]
            bias_scale = (s_in * s_w).expand(w.shape[0]).contiguous()
            qb = (quantize(b, bias_scale, torch.zeros_like(bias_scale, dtype=torch.int64), INT32_MIN, INT32_MAX,
                           axis=0)[0] if b is not None else torch.zeros(w.shape[0]))
            m0, shift = quantize_multipliers(bias_scale.double() / s_out.double())  # M = S_in S_w / S_out (eq. 5)
        dtype = torch.int8 if ws.bits <= 8 else torch.int16
        self.register_buffer("weight", qw.to(dtype))
        self.register_buffer("bias", qb.to(torch.int32))
        self.register_buffer("in_zp", torch.tensor(int(z_in), dtype=torch.int32))
        self.register_buffer("m0", m0.to(torch.int32))
        self.register_buffer("shift", shift.to(torch.int8))
        self._init_out(qat)
        self.check_headroom(name, ws.bits, qat.inputs[0].scheme)

    def accumulator_bound(self, in_scheme: object) -> int:
        """Worst-case |accumulator| over all inputs: K * max|q_w| * max|q_in - Z_in| + max|bias|."""
        k = self.weight[0].numel()
        z = int(self.in_zp)
        xmax = max(abs(in_scheme.qmin - z), abs(in_scheme.qmax - z))  # type: ignore[attr-defined]
        return k * int(self.weight.abs().max()) * xmax + int(self.bias.abs().max())

    def check_headroom(self, name: str, weight_bits: int, in_scheme: object) -> None:
        """Refuse int32 overflow; warn when int4 weights would not fit an int16 accumulator (int4 kernels' budget)."""
        bound = self.accumulator_bound(in_scheme)
        if bound > INT32_MAX:
            raise DanluError(f"convert: layer {name!r} can overflow the int32 accumulator (bound {bound} > {INT32_MAX})")
        if weight_bits <= 4 and bound > INT16_MAX:
            warnings.warn(f"layer {name!r}: int{weight_bits} weights but the accumulator bound {bound} exceeds int16 "
                          f"({INT16_MAX}); it needs the int32 headroom of an int8 kernel", stacklevel=3)

    def forward(self, q: Tensor) -> Tensor:
        x = q - int(self.in_zp)
        w = self.weight.long()
        acc = int_conv2d(x, w, self.stride, self.padding) if self.kind == "conv" else int_linear(x, w)
        shape = (1, -1, 1, 1) if self.kind == "conv" else (1, -1)
        acc = acc + self.bias.long().reshape(shape)
        r = rounding_right_shift(acc * self.m0.long().reshape(shape), self.shift.long().reshape(shape))
        return self._finish(r)


class IntAdd(IntModule):
    """``a + b`` on codes: both rescaled to the output scale with one shared shift, rounded once."""

    def __init__(self, qat: QATAdd, name: str = "") -> None:
        super().__init__()
        if len(qat.inputs) != 2:
            raise DanluError(f"convert: add {name!r} needs two quantized inputs, got {len(qat.inputs)}")
        (sa, za), (sb, zb) = qat.inputs[0].qparams(), qat.inputs[1].qparams()
        s_out, _ = qat.out_fq.qparams()
        ma, mb = float(sa) / float(s_out), float(sb) / float(s_out)
        m0, shift = quantize_multiplier(max(ma, mb))
        other = round(min(ma, mb) * 2.0**shift)
        a_mult, b_mult = (m0, other) if ma >= mb else (other, m0)
        self.register_buffer("zp", torch.tensor([int(za), int(zb)], dtype=torch.int32))
        self.register_buffer("mult", torch.tensor([a_mult, b_mult], dtype=torch.int64))
        self.register_buffer("shift", torch.tensor(shift, dtype=torch.int8))
        self._init_out(qat)

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        acc = (a - int(self.zp[0])) * int(self.mult[0]) + (b - int(self.zp[1])) * int(self.mult[1])
        return self._finish(rounding_right_shift(acc, torch.tensor(int(self.shift))))


class IntAvgPool(IntModule):
    """Global average pool on codes: (B, C, H, W) -> (B, C, 1, 1); ``M = S_in / (H W S_out)``.

    The multiplier depends on H*W; it is derived (once per size) from the stored ratio S_in/S_out.
    """

    def __init__(self, qat: QATAvgPool, name: str = "") -> None:
        super().__init__()
        s_in, z_in = qat.inputs[0].qparams()
        s_out, _ = qat.out_fq.qparams()
        self.register_buffer("in_zp", torch.tensor(int(z_in), dtype=torch.int32))
        self.register_buffer("ratio", torch.tensor(float(s_in) / float(s_out), dtype=torch.float64))
        self._init_out(qat)

    def forward(self, q: Tensor) -> Tensor:
        n = q.shape[2] * q.shape[3]
        acc = (q - int(self.in_zp)).sum(dim=(2, 3), keepdim=True)
        m0, shift = quantize_multiplier(float(self.ratio) / n)
        return self._finish(rounding_right_shift(acc * m0, torch.tensor(shift)))


class IntMaxPool(nn.Module):
    """Max-pool on codes; padding with the smallest code."""

    def __init__(self, pool: nn.MaxPool2d, pad_value: int) -> None:
        super().__init__()
        if pool.dilation not in (1, (1, 1)) or pool.ceil_mode:
            raise DanluError(f"integer max-pool supports dilation=1, ceil_mode=False; got {pool}")
        pair = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (int(v), int(v))  # noqa: E731
        self.kernel, self.padding = pair(pool.kernel_size), pair(pool.padding)
        self.stride = pair(pool.stride if pool.stride is not None else pool.kernel_size)
        self.pad_value = pad_value

    def forward(self, q: Tensor) -> Tensor:
        return int_max_pool2d(q, self.kernel, self.stride, self.padding, self.pad_value)


class IntReLU(nn.Module):
    """An unfused ReLU on codes: ``max(q, Z)``."""

    def __init__(self, zero_point: int) -> None:
        super().__init__()
        self.zero_point = int(zero_point)

    def forward(self, q: Tensor) -> Tensor:
        return q.clamp_min(self.zero_point)


def int_nbytes(module: nn.Module) -> int:
    """Bytes of every parameter and buffer (the stored model size)."""
    return sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()])

