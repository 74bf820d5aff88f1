"""Verdict-rule cases of the state-space cards (ssm-*), written from each rule's docstring."""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of


def L(ratio: float, factor: float = 1.1) -> Estimate:
    """An estimate of log(ratio) whose interval is ratio/factor .. ratio*factor."""
    return Estimate.of(math.log(ratio), math.log(factor))


CASES = {
    "ssm-hippo": [
        ({"window_over_legs": L(100.0, 3.0)}, True),
        ({"window_over_legs": L(2.5, 1.1)}, True),
        ({"window_over_legs": L(1.2, 1.1)}, False),       # window barely worse: below the 2x margin
        ({"window_over_legs": L(0.5, 1.2)}, False),       # window better
        ({"window_over_legs": L(2.0, 1.5)}, None),        # straddles 2x
    ],
    "ssm-s4": [
        ({"max_rel_err": 1e-14}, True),
        ({"max_rel_err": 3e-6}, False),
        ({"max_rel_err": 1e-10}, False),                  # not below the tolerance
        ({"max_rel_err": float("nan")}, None),
    ],
    "ssm-mamba": [
        ({"max_diff": 1e-15, "selection": E(40.0, 10.0), "speed_at_4096": L(2.0)}, True),
        ({"max_diff": 1e-6, "selection": E(40.0, 10.0), "speed_at_4096": L(2.0)}, False),     # backends differ
        ({"max_diff": 1e-15, "selection": E(3.0, 2.0), "speed_at_4096": L(2.0)}, False),      # no selection gain
        ({"max_diff": 1e-15, "selection": E(40.0, 10.0), "speed_at_4096": L(0.5)}, False),    # attention faster
        ({"max_diff": 1e-15, "selection": E(12.0, 5.0), "speed_at_4096": L(2.0)}, None),      # straddles +10
        ({"max_diff": 1e-15, "selection": E(40.0, 10.0), "speed_at_4096": L(1.0, 1.3)}, None),  # straddles 1x
    ],
}
