"""Fixed-point requantisation against exact rational arithmetic (fractions.Fraction)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import torch

from danlu.errors import DanluError
from danlu.quant.fixed_point import quantize_multiplier, requantize, rounding_right_shift


def _round_half_even(f: Fraction) -> int:
    return round(f)  # Python's round on Fraction is exact, ties to even


@pytest.mark.parametrize("m", [1e-6, 0.000317, 0.25, 0.5, 0.7499, 0.99999999999, 1.0, 3.7, 1234.5])
def test_quantize_multiplier_is_m0_times_power_of_two(m: float) -> None:
    m0, shift = quantize_multiplier(m)
    assert 2**30 <= m0 < 2**31
    approx = Fraction(m0, 2**shift)
    assert abs(approx - Fraction(m)) <= Fraction(m) * Fraction(1, 2**31)  # eq. 6 with a 31-bit M0


def test_rounding_shift_ties_to_even_exactly() -> None:
    p = torch.tensor([-7, -6, -5, -3, -2, -1, 0, 1, 2, 3, 5, 6, 7], dtype=torch.int64)
    got = rounding_right_shift(p, torch.tensor(1))  # p / 2
    want = [_round_half_even(Fraction(int(v), 2)) for v in p]
    assert got.tolist() == want
    assert got.tolist() != [math.floor(int(v) / 2 + 0.5) for v in p]  # differs from round-half-up


def test_requantize_equals_exact_rational() -> None:
    g = torch.Generator().manual_seed(0)
    acc = torch.randint(-(2**31) + 1, 2**31 - 1, (5000,), generator=g, dtype=torch.int64)
    for m in (0.00123, 0.37, 0.9):
        m0, shift = quantize_multiplier(m)
        got = requantize(acc, torch.tensor(m0), torch.tensor(shift))
        want = [_round_half_even(Fraction(int(a) * m0, 2**shift)) for a in acc[:500]]
        assert got[:500].tolist() == want
        assert (got.double() - acc.double() * m).abs().max() <= 0.5 + 2**31 * m * 2**-30  # M0 error bound


def test_bad_multiplier_refused() -> None:
    for m in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(DanluError, match="multiplier"):
            quantize_multiplier(m)
    with pytest.raises(DanluError, match="int64"):
        requantize(torch.tensor([1], dtype=torch.int32), torch.tensor(1), torch.tensor(1))
