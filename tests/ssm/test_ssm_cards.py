"""Claim-specific numbers of the ssm-* cards at small budgets (the quick runs are in tests/lab/test_cards.py)."""

from __future__ import annotations

import math

from danlu.lab.cards import ssm_hippo, ssm_mamba, ssm_s4
from danlu.lab.evidence import Estimate


def test_hippo_card_numbers():
    r = ssm_hippo._one(0, 400, 12, [12, 100, 400])
    assert r["window"][0] == 0.0                                                    # horizon = window: exact
    assert r["legs"][-1] < 0.1 < r["window"][-1]                                    # whole history: LegS wins
    assert all(e > 0 for e in r["legt"])


def test_s4_card_slope_and_params():
    assert math.isclose(ssm_s4.loglog_slope([1, 2, 4], [3.0, 6.0, 12.0]), 1.0)
    assert math.isclose(ssm_s4.loglog_slope([1, 2, 4], [1.0, 4.0, 16.0]), 2.0)
    dt, A, C = ssm_s4._params(0, 4, 3, ssm_s4.torch.float64)
    assert (A.real < 0).all() and (dt > 0).all()


def test_mamba_card_agreement_is_exact_in_float64():
    worst, rows = ssm_mamba._agreement("cpu")
    assert worst < 1e-12 and rows


def test_mamba_rule_parts_are_independent():
    sel, fast, slow = Estimate.of(30.0, 5.0), Estimate.of(0.5, 0.1), Estimate.of(-0.5, 0.1)
    assert ssm_mamba.verdict(1e-15, sel, fast) is True
    assert ssm_mamba.verdict(1e-15, sel, slow) is False
    assert ssm_mamba.verdict(float("nan"), sel, fast) is False
