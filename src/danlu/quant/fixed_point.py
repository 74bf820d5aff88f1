"""Fixed-point requantisation: a real multiplier as an integer times a power of two (Jacob et al. 2018, eq. 5-6).

A layer's output code is ``q3 = Z3 + M * acc`` with ``M = S1 S2 / S3`` (eq. 5) and ``acc`` the
int32 accumulator. The paper writes ``M = 2^-n M0`` with ``M0`` in ``[0.5, 1)`` held as an int32
fixed-point number (eq. 6). Here ``M0`` is the integer ``round(M0_real * 2^31)`` in
``[2^30, 2^31)`` and ``shift = 31 + n``, so ``M ~= M0 * 2^-shift`` (relative error <= 2^-31).

Rounding: ``requantize`` computes the exact product ``acc * M0`` (int64, no overflow while
``|acc| < 2^32``) and rounds ``/ 2^shift`` once, **half to even**. That is the rounding of
``torch.round`` / ``nearbyint`` used by fake quantization, so the integer runtime and the
simulation can agree bit for bit. gemmlowp (the paper's library) instead rounds twice (a
doubling high multiply, then a rounding right shift, ties away from zero); the two differ only
on exact ties.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from danlu.errors import DanluError

MULT_BITS = 31


def quantize_multiplier(m: float) -> tuple[int, int]:
    """(M0, shift) with ``m ~= M0 * 2^-shift``, ``2^30 <= M0 < 2^31`` (eq. 6). ``m`` must be in (0, 2^30)."""
    if not (math.isfinite(m) and 0.0 < m < 2.0**30):
        raise DanluError(f"requantisation multiplier must be finite and in (0, 2^30), got {m}")
    mant, exp = math.frexp(m)  # m = mant * 2^exp, mant in [0.5, 1)
    m0 = round(mant * 2**MULT_BITS)
    if m0 == 2**MULT_BITS:  # mantissa rounded up to 1.0
        m0 //= 2
        exp += 1
    shift = MULT_BITS - exp
    if shift > 62:
        raise DanluError(f"requantisation multiplier {m} is too small for a 62-bit shift")
    return int(m0), int(shift)


def quantize_multipliers(m: Tensor) -> tuple[Tensor, Tensor]:
    """Vectorised :func:`quantize_multiplier`: (M0, shift) int64 tensors of ``m``'s shape."""
    pairs = [quantize_multiplier(float(v)) for v in m.double().flatten()]
    m0 = torch.tensor([p[0] for p in pairs], dtype=torch.int64).reshape(m.shape)
    shift = torch.tensor([p[1] for p in pairs], dtype=torch.int64).reshape(m.shape)
    return m0, shift


def rounding_right_shift(p: Tensor, shift: Tensor) -> Tensor:
    """``round(p / 2^shift)`` with ties to even, for int64 ``p`` and ``shift >= 1`` (broadcast)."""
    shift = torch.as_tensor(shift, dtype=torch.int64)
    floor = torch.bitwise_right_shift(p, shift)  # arithmetic shift: floor division
    rem = p - torch.bitwise_left_shift(floor, shift)  # in [0, 2^shift)
    half = torch.bitwise_left_shift(torch.ones_like(shift), shift - 1)
    up = (rem > half) | ((rem == half) & (torch.bitwise_and(floor, 1) == 1))
    return floor + up.to(torch.int64)


def requantize(acc: Tensor, m0: Tensor, shift: Tensor) -> Tensor:
    """``round_half_even(acc * M0 / 2^shift)`` exactly, in int64 (eq. 6's ``M * acc``)."""
    if acc.dtype != torch.int64:
        raise DanluError(f"requantize expects an int64 accumulator, got {acc.dtype}")
    return rounding_right_shift(acc * m0, shift)
