"""Verdict-rule cases of tr-focal, tr-flood, tr-dropout, tr-warmup, tr-radam and tr-smooth.

Written from each rule's docstring (the pre-registered criterion); interval inputs are built with
``Estimate.of(mean, half_width)``.
"""

from __future__ import annotations

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    "tr-focal": [
        ({"gain_vs_bce": E(0.06, 0.03), "gain_vs_balanced": E(0.05, 0.03), "room": 0.25}, True),
        ({"gain_vs_bce": E(0.06, 0.03), "gain_vs_balanced": E(-0.04, 0.03), "room": 0.25}, False),  # loses to alpha-BCE
        ({"gain_vs_bce": E(0.003, 0.005), "gain_vs_balanced": E(0.05, 0.03), "room": 0.25}, False),  # gain below margin
        ({"gain_vs_bce": E(0.01, 0.04), "gain_vs_balanced": E(0.0, 0.04), "room": 0.25}, None),     # straddles 0.01
        ({"gain_vs_bce": E(0.06, 0.03), "gain_vs_balanced": E(0.05, 0.03), "room": 0.005}, None),   # no room to gain
    ],
}
