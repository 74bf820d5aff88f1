"""Evidence helpers for lab cards: repeated measurements, intervals and three-way decisions.

A card that compares trained models (or timings) measures its effect several times (seeds,
repeats) and decides with the effect's interval, not its point value:

* ``held`` (``True``) when the whole interval clears the margin,
* ``not held`` (``False``) when the whole interval falls short of it,
* ``inconclusive`` (``None``) when the interval straddles the margin.

With a 95% two-sided interval, a zero effect tested against margin 0 is called held at most
2.5% of the time (the interval's lower end exceeds the true mean with probability 0.025).

    >>> from danlu.lab.evidence import estimate, decide
    >>> e = estimate([4.0, 5.0, 3.0, 4.5, 4.0])
    >>> round(e.mean, 2), e.n
    (4.1, 5)
    >>> decide(e, margin=1.0)
    True
    >>> print(e.describe(unit=" points", what="seeds"))
    +4.10 ± 0.92 points (95% CI, 5 seeds)

Intervals: Student's t (default; the reference is ``scipy.stats.t.interval``) or the
percentile bootstrap (Efron & Tibshirani 1993, ch. 13) with a seeded resampler.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Decision = bool | None  # True: held, False: not held, None: inconclusive

METHODS = ("t", "bootstrap")


@dataclass(frozen=True)
class Estimate:
    """A measured effect with its interval.

    Attributes:
        mean: the point estimate (mean of the samples).
        lo: lower end of the interval (``-inf`` with one sample).
        hi: upper end of the interval (``+inf`` with one sample).
        n: number of samples (seeds, repeats).
        level: confidence level of the interval, e.g. 0.95.
        method: ``"t"``, ``"bootstrap"`` or ``"given"`` (built with :meth:`of`).
        samples: the samples themselves (kept for results.json and the report).
    """

    mean: float
    lo: float
    hi: float
    n: int
    level: float = 0.95
    method: str = "t"
    samples: tuple[float, ...] = ()

    @classmethod
    def of(cls, mean: float, half_width: float, n: int = 5, level: float = 0.95) -> Estimate:
        """An estimate from a mean and a symmetric half-width (for tests and closed forms)."""
        return cls(mean=float(mean), lo=float(mean) - half_width, hi=float(mean) + half_width, n=n,
                   level=level, method="given")

    @property
    def half_width(self) -> float:
        """Half the interval's width (``inf`` with one sample)."""
        return (self.hi - self.lo) / 2

    def scaled(self, k: float) -> Estimate:
        """The same estimate in other units (``k`` > 0), e.g. ``scaled(100)`` for points."""
        if k <= 0:
            raise ValueError(f"scale must be positive, got {k}")
        return Estimate(self.mean * k, self.lo * k, self.hi * k, self.n, self.level, self.method,
                        tuple(s * k for s in self.samples))

    def describe(self, *, unit: str = "", what: str = "seeds", digits: int = 2, sign: bool = True) -> str:
        """``"+4.10 ± 0.92 points (95% CI, 5 seeds)"``; one sample says so instead of an interval."""
        m = f"{self.mean:+.{digits}f}" if sign else f"{self.mean:.{digits}f}"
        if self.n < 2 or not math.isfinite(self.half_width):
            return f"{m}{unit} (1 {what.rstrip('s')}, no interval)"
        return f"{m} ± {self.half_width:.{digits}f}{unit} ({self.level:.0%} CI, {self.n} {what})"

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "lo": self.lo, "hi": self.hi, "n": self.n, "level": self.level,
                "method": self.method, "samples": list(self.samples)}


def _clean(samples: Iterable[float]) -> list[float]:
    xs = [float(x) for x in samples]
    if not xs:
        raise ValueError("estimate needs at least one sample, got none")
    bad = [x for x in xs if not math.isfinite(x)]
    if bad:
        raise ValueError(f"estimate needs finite samples, got {bad[0]!r}")
    return xs


def estimate(samples: Iterable[float], *, level: float = 0.95, method: str = "t", seed: int = 0,
             resamples: int = 4000) -> Estimate:
    """Mean of ``samples`` with a two-sided ``level`` interval.

    Args:
        samples: one number per seed or repeat (at least one; finite).
        level: confidence level in (0, 1).
        method: ``"t"`` (Student's t: mean ± t_{(1+level)/2, n-1} · s/√n) or ``"bootstrap"``
            (percentile interval of ``resamples`` seeded resampled means).
        seed: seed of the bootstrap resampler.
        resamples: number of bootstrap resamples.

    Returns:
        An :class:`Estimate`; with one sample the interval is (-inf, inf), so any decision on it is
        inconclusive.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if method not in METHODS:
        raise ValueError(f"unknown interval method {method!r}; valid: {', '.join(METHODS)}")
    xs = _clean(samples)
    n = len(xs)
    mean = math.fsum(xs) / n
    if n < 2:
        return Estimate(mean, -math.inf, math.inf, n, level, method, tuple(xs))
    if method == "t":
        from scipy.stats import t as student_t

        sd = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
        h = float(student_t.ppf((1 + level) / 2, n - 1)) * sd / math.sqrt(n)
        return Estimate(mean, mean - h, mean + h, n, level, method, tuple(xs))
    import numpy as np

    rng = np.random.default_rng(seed)
    arr = np.asarray(xs)
    means = arr[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return Estimate(mean, float(lo), float(hi), n, level, method, tuple(xs))


def paired(treatment: Sequence[float], baseline: Sequence[float], **kw: Any) -> Estimate:
    """Estimate of ``treatment - baseline`` paired by index (same seed, same data order)."""
    if len(treatment) != len(baseline):
        raise ValueError(f"paired samples need equal lengths, got {len(treatment)} and {len(baseline)}")
    return estimate([a - b for a, b in zip(treatment, baseline)], **kw)


def log_ratio(numerator: Sequence[float], denominator: Sequence[float], **kw: Any) -> Estimate:
    """Estimate of ``log(numerator / denominator)`` paired by index (timings: speed-ups multiply).

    ``describe`` of ``math.exp`` of its ends gives the ratio's interval; see :func:`ratio_text`.
    """
    if len(numerator) != len(denominator):
        raise ValueError(f"paired samples need equal lengths, got {len(numerator)} and {len(denominator)}")
    if any(a <= 0 for a in numerator) or any(b <= 0 for b in denominator):
        raise ValueError("log_ratio needs positive numbers (timings)")
    return estimate([math.log(a / b) for a, b in zip(numerator, denominator)], **kw)


def _times(x: float) -> str:
    """A ratio with two decimals below 100 and three significant digits above (``14700``, not ``14669.90``)."""
    return f"{x:.2f}" if abs(x) < 100 else f"{float(f'{x:.3g}'):.0f}"


def ratio_text(e: Estimate, what: str = "repeats") -> str:
    """A log-ratio estimate as ``"3.10x (2.80-3.40x, 95% CI, 5 repeats)"``."""
    if e.n < 2 or not math.isfinite(e.half_width):
        return f"{_times(math.exp(e.mean))}x (1 {what.rstrip('s')}, no interval)"
    return (f"{_times(math.exp(e.mean))}x ({_times(math.exp(e.lo))}-{_times(math.exp(e.hi))}x, "
            f"{e.level:.0%} CI, {e.n} {what})")


def decide(e: Estimate, margin: float = 0.0, *, higher_is_better: bool = True) -> Decision:
    """Three-way decision of "the effect clears ``margin``" on the interval of ``e``.

    With ``higher_is_better`` the claim is ``effect > margin``: held when ``lo > margin``, not held
    when ``hi < margin``, inconclusive otherwise. With ``higher_is_better=False`` the claim is
    ``effect < margin`` (mirror image).
    """
    if higher_is_better:
        if e.lo > margin:
            return True
        if e.hi < margin:
            return False
        return None
    if e.hi < margin:
        return True
    if e.lo > margin:
        return False
    return None


def all_of(*decisions: Decision) -> Decision:
    """A conjunction of decisions: not held if any part is not held, else inconclusive if any is."""
    if any(d is False for d in decisions):
        return False
    if any(d is None for d in decisions):
        return None
    return True


def any_of(*decisions: Decision) -> Decision:
    """A disjunction of decisions: held if any part holds, else inconclusive if any is."""
    if any(d is True for d in decisions):
        return True
    if any(d is None for d in decisions):
        return None
    return False


def seeds_for(base: int, n: int) -> list[int]:
    """The ``n`` seeds a card runs, starting at the runner's ``base`` seed."""
    if n < 1:
        raise ValueError(f"a card needs at least one seed, got {n}")
    return [base + i for i in range(n)]


def verdict_text(d: Decision) -> str:
    """``"held"``, ``"not held"`` or ``"inconclusive"``."""
    return {True: "held", False: "not held", None: "inconclusive"}[d]
