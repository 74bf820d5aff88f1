"""Quantization parameters: integer ranges, scale and zero point (Jacob et al. 2018, eq. 1).

A real value ``r`` is represented by an integer ``q`` as ``r = S (q - Z)`` (the paper's eq. 1),
with ``S`` a positive float scale and ``Z`` an integer zero point chosen so that the real 0 is
exactly representable (the paper's "nudging"; zero padding and ReLU rely on it).

``qparams_from_range`` follows torch's observers (``torch.ao.quantization.observer``) exactly:
the range is first widened to contain 0, then

- affine:    ``S = (max - min) / (qmax - qmin)``, ``Z = clamp(qmin - round(min / S), qmin, qmax)``;
- symmetric: ``S = max(|min|, |max|) / ((qmax - qmin) / 2)``, ``Z = 0`` (signed) or the midpoint.

Shapes: ``min_val``/``max_val`` are () for per-tensor or (C,) for per-channel; the results have
the same shape (scale float32, zero point int64).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from danlu.errors import DanluError

EPS = float(torch.finfo(torch.float32).eps)


@dataclass(frozen=True)
class QScheme:
    """How one tensor is quantized.

    Args:
        bits: integer width (2..16); 8 for int8/uint8, 4 for int4.
        signed: integers in ``[-2^(b-1), 2^(b-1) - 1]`` (True) or ``[0, 2^b - 1]`` (False).
        symmetric: zero point fixed (0 when signed) and the range symmetric around 0.
        narrow: drop the most negative signed value (int8 in ``[-127, 127]``, the paper's choice
            for weights so that no product is ``(-128) * (-128)``).
        per_channel: one (scale, zero point) per slice along ``axis`` instead of one per tensor.
        axis: the channel axis for per-channel schemes (0 = output channels of a weight).
    """

    bits: int = 8
    signed: bool = False
    symmetric: bool = False
    narrow: bool = False
    per_channel: bool = False
    axis: int = 0

    def __post_init__(self) -> None:
        if not 2 <= int(self.bits) <= 16:
            raise DanluError(f"quantization bits must be in 2..16, got {self.bits}")
        if self.narrow and not self.signed:
            raise DanluError("narrow=True needs signed=True (it drops -2^(b-1) from a signed range)")

    @property
    def qmin(self) -> int:
        """Smallest integer code."""
        if not self.signed:
            return 0
        return -(2 ** (self.bits - 1)) + (1 if self.narrow else 0)

    @property
    def qmax(self) -> int:
        """Largest integer code."""
        return 2 ** (self.bits - 1) - 1 if self.signed else 2**self.bits - 1


def activation_scheme(bits: int = 8) -> QScheme:
    """The paper's activations: unsigned affine per tensor (uint8 for 8 bits)."""
    return QScheme(bits=bits, signed=False, symmetric=False)


def weight_scheme(bits: int = 8, *, per_channel: bool = True) -> QScheme:
    """The paper's weights: signed, symmetric, narrow range (int8 in [-127, 127]); per output channel."""
    return QScheme(bits=bits, signed=True, symmetric=True, narrow=True, per_channel=per_channel, axis=0)


def check_range(min_val: Tensor, max_val: Tensor, name: str = "range") -> None:
    """Refuse NaN/inf ranges and min > max with a clear error."""
    if not (torch.isfinite(min_val).all() and torch.isfinite(max_val).all()):
        raise DanluError(f"{name}: observed min/max must be finite, got min={min_val.tolist()} max={max_val.tolist()}"
                         " (NaN or inf reached the observer)")
    if (min_val > max_val).any():
        raise DanluError(f"{name}: min must be <= max, got min={min_val.tolist()} max={max_val.tolist()}"
                         " (was the observer ever run on data?)")


def check_scale(scale: Tensor, name: str = "scale") -> None:
    """Refuse a scale that is not finite and positive."""
    if not (torch.isfinite(scale).all() and (scale > 0).all()):
        raise DanluError(f"{name} must be finite and > 0, got {scale.flatten()[:8].tolist()}")


def qparams_from_range(min_val: Tensor, max_val: Tensor, scheme: QScheme) -> tuple[Tensor, Tensor]:
    """(scale, zero_point) for the range ``[min_val, max_val]`` (torch's observer formula, see module doc)."""
    min_val, max_val = min_val.float(), max_val.float()
    check_range(min_val, max_val)
    qmin, qmax = scheme.qmin, scheme.qmax
    lo = torch.minimum(min_val, torch.zeros_like(min_val))
    hi = torch.maximum(max_val, torch.zeros_like(max_val))
    eps = torch.tensor(EPS)
    if scheme.symmetric:
        hi = torch.maximum(-lo, hi)
        scale = torch.maximum(hi / (float(qmax - qmin) / 2), eps)
        zp_value = 0 if scheme.signed else (qmin + qmax + 1) // 2
        zero_point = torch.full_like(scale, zp_value, dtype=torch.int64)
    else:
        scale = torch.maximum((hi - lo) / float(qmax - qmin), eps)
        zero_point = torch.clamp(qmin - torch.round(lo / scale).to(torch.int64), qmin, qmax)
    return scale, zero_point
