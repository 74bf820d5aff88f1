"""Interval helper of the lab (danlu.lab.evidence): references are scipy.stats and closed forms."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from scipy import stats

from danlu.lab.evidence import (
    Estimate,
    all_of,
    any_of,
    decide,
    estimate,
    log_ratio,
    paired,
    ratio_text,
    seeds_for,
)


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_t_interval_matches_scipy(level):
    xs = [0.3, 1.7, -0.4, 2.2, 0.9, 1.1]
    e = estimate(xs, level=level)
    lo, hi = stats.t.interval(level, len(xs) - 1, loc=np.mean(xs), scale=stats.sem(xs))
    assert e.mean == pytest.approx(np.mean(xs))
    assert (e.lo, e.hi) == pytest.approx((lo, hi), rel=1e-12)


def test_bootstrap_interval_is_seeded_and_close_to_t_for_normal_data():
    rng = np.random.default_rng(3)
    xs = rng.normal(2.0, 1.0, size=200).tolist()
    a, b = estimate(xs, method="bootstrap", seed=1), estimate(xs, method="bootstrap", seed=1)
    assert (a.lo, a.hi) == (b.lo, b.hi)
    t = estimate(xs)
    assert a.lo == pytest.approx(t.lo, abs=0.05) and a.hi == pytest.approx(t.hi, abs=0.05)


def test_one_sample_is_never_decided():
    e = estimate([5.0])
    assert math.isinf(e.lo) and math.isinf(e.hi)
    assert decide(e, 0.0) is None and decide(e, 0.0, higher_is_better=False) is None
    assert "no interval" in e.describe()


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [float("inf")]])
def test_bad_samples_raise(bad):
    with pytest.raises(ValueError):
        estimate(bad)


def test_bad_level_and_method_raise():
    with pytest.raises(ValueError, match="level"):
        estimate([1, 2], level=1.5)
    with pytest.raises(ValueError, match="method"):
        estimate([1, 2], method="jackknife")


def test_decide_three_ways_both_directions():
    assert decide(Estimate.of(3.0, 1.0), 1.0) is True
    assert decide(Estimate.of(-1.0, 1.0), 1.0) is False
    assert decide(Estimate.of(1.5, 1.0), 1.0) is None
    assert decide(Estimate.of(-3.0, 1.0), 0.0, higher_is_better=False) is True
    assert decide(Estimate.of(3.0, 1.0), 0.0, higher_is_better=False) is False
    assert decide(Estimate.of(0.5, 1.0), 0.0, higher_is_better=False) is None


def test_zero_effect_is_called_held_at_most_at_the_stated_rate():
    """A true effect of 0 tested against margin 0 at 95%: held in ≤ 2.5% of runs (plus MC slack)."""
    rng = random.Random(0)
    trials, n = 4000, 5
    held = sum(decide(estimate([rng.gauss(0, 1) for _ in range(n)]), 0.0) is True for _ in range(trials))
    rate = held / trials
    assert rate <= 0.025 + 3 * math.sqrt(0.025 * 0.975 / trials), rate
    assert rate >= 0.01  # the interval is not vacuous either: it does call some zero effects held


def test_true_effect_is_found_with_enough_seeds():
    rng = random.Random(1)
    held = sum(decide(estimate([rng.gauss(2, 1) for _ in range(8)]), 0.0) is True for _ in range(500))
    assert held / 500 > 0.95


def test_paired_and_log_ratio():
    e = paired([3.0, 4.0, 5.0], [1.0, 1.5, 2.5])
    assert e.samples == (2.0, 2.5, 2.5) and e.mean == pytest.approx(7 / 3)
    r = log_ratio([2.0, 4.0], [1.0, 1.0])
    assert r.mean == pytest.approx((math.log(2) + math.log(4)) / 2)
    assert ratio_text(r).startswith(f"{math.exp(r.mean):.2f}x (")
    with pytest.raises(ValueError):
        paired([1.0], [1.0, 2.0])
    with pytest.raises(ValueError):
        log_ratio([0.0], [1.0])


def test_combinators_and_describe():
    assert all_of(True, True) is True and all_of(True, None) is None and all_of(None, False) is False
    assert any_of(False, True) is True and any_of(False, None) is None and any_of(False, False) is False
    e = estimate([0.04, 0.05, 0.03]).scaled(100)
    assert e.describe(unit=" points") == f"+4.00 ± {e.half_width:.2f} points (95% CI, 3 seeds)"
    assert seeds_for(7, 3) == [7, 8, 9]
    with pytest.raises(ValueError):
        seeds_for(0, 0)


def test_ratio_text_rounds_large_ratios_to_three_significant_digits():
    import math

    from danlu.lab.evidence import Estimate, ratio_text

    assert ratio_text(Estimate.of(math.log(3.104), 0.05)).startswith("3.10x (2.95-3.26x")
    assert ratio_text(Estimate.of(math.log(14669.9), math.log(12.66))) == "14700x (1160-186000x, 95% CI, 5 repeats)"
