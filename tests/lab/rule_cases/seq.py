"""Verdict-rule cases of the sequence cards (seq-*), written from each rule's docstring."""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of


def L(ratio: float, factor: float = 1.1) -> Estimate:
    """An estimate of log(ratio) whose interval is ratio/factor .. ratio*factor."""
    return Estimate.of(math.log(ratio), math.log(factor))


CASES = {
    "seq-bleu": [
        ({"max_abs_diff": 0.0, "bp_abs_err": 0.0}, True),
        ({"max_abs_diff": 5e-10, "bp_abs_err": 1e-12}, True),
        ({"max_abs_diff": 1e-6, "bp_abs_err": 0.0}, False),
        ({"max_abs_diff": 0.0, "bp_abs_err": 1e-3}, False),
    ],
}
CASES["seq-encdec"] = [
    ({"gap_slope": E(12.0, 3.0), "attention_short_exact": 99.0}, True),
    ({"gap_slope": E(-5.0, 2.0), "attention_short_exact": 99.0}, False),
    ({"gap_slope": E(1.0, 3.0), "attention_short_exact": 99.0}, None),
    ({"gap_slope": E(12.0, 3.0), "attention_short_exact": 20.0}, None),
]
