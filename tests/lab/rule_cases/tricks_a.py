"""Verdict-rule cases of tr-focal, tr-flood, tr-dropout, tr-warmup, tr-radam and tr-smooth.

Written from each rule's docstring (the pre-registered criterion); interval inputs are built with
``Estimate.of(mean, half_width)``.
"""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of


def L(ratio: float, factor: float = 1.05) -> Estimate:
    """An estimate of log(ratio) whose interval is ratio/factor .. ratio*factor."""
    return Estimate.of(math.log(ratio), math.log(factor))


CASES = {
    "tr-focal": [
        ({"gain_vs_bce": E(0.06, 0.03), "gain_vs_balanced": E(0.05, 0.03), "room": 0.25}, True),
        ({"gain_vs_bce": E(0.06, 0.03), "gain_vs_balanced": E(-0.04, 0.03), "room": 0.25}, False),  # loses to alpha-BCE
        ({"gain_vs_bce": E(0.003, 0.005), "gain_vs_balanced": E(0.05, 0.03), "room": 0.25}, False),  # gain below margin
        ({"gain_vs_bce": E(0.01, 0.04), "gain_vs_balanced": E(0.0, 0.04), "room": 0.25}, None),     # straddles 0.01
        ({"gain_vs_bce": E(0.06, 0.03), "gain_vs_balanced": E(0.05, 0.03), "room": 0.005}, None),   # no room to gain
    ],
    "tr-flood": [
        ({"plain_train_ce": 0.01, "b": 0.3, "late_raw_loss": E(0.31, 0.02), "test_ce_gain": E(0.25, 0.06)}, True),
        # the raw loss went to zero under flooding (the flooded value would still read >= b)
        ({"plain_train_ce": 0.01, "b": 0.3, "late_raw_loss": E(0.02, 0.01), "test_ce_gain": E(0.25, 0.06)}, False),
        ({"plain_train_ce": 0.01, "b": 0.3, "late_raw_loss": E(0.9, 0.05), "test_ce_gain": E(0.25, 0.06)}, False),
        ({"plain_train_ce": 0.01, "b": 0.3, "late_raw_loss": E(0.31, 0.02), "test_ce_gain": E(-0.1, 0.05)}, False),
        ({"plain_train_ce": 0.01, "b": 0.3, "late_raw_loss": E(0.31, 0.02), "test_ce_gain": E(0.06, 0.05)}, None),
        ({"plain_train_ce": 0.01, "b": 0.3, "late_raw_loss": E(0.58, 0.05), "test_ce_gain": E(0.25, 0.06)}, None),
        ({"plain_train_ce": 0.4, "b": 0.3, "late_raw_loss": E(0.31, 0.02), "test_ce_gain": E(0.25, 0.06)}, None),
    ],
    "tr-dropout": [
        ({"gap_reduction": E(2.0, 0.5), "held_out_acc_change": E(1.0, 0.5)}, True),
        ({"gap_reduction": E(0.1, 0.2), "held_out_acc_change": E(0.1, 0.2)}, False),   # shrinks, but below 0.5
        ({"gap_reduction": E(2.0, 0.5), "held_out_acc_change": E(-3.0, 0.5)}, False),  # gap shrinks by losing accuracy
        ({"gap_reduction": E(0.3, 0.4), "held_out_acc_change": E(0.3, 0.4)}, None),
    ],
    "tr-warmup": [
        ({"adam_spike": L(5.0, 1.4), "spike_ratio": L(4.0, 1.4), "acc_change": E(30.0, 15.0)}, True),
        ({"adam_spike": L(5.0, 1.4), "spike_ratio": L(1.0), "acc_change": E(30.0, 15.0)}, False),   # no calmer start
        ({"adam_spike": L(5.0, 1.4), "spike_ratio": L(4.0, 1.4), "acc_change": E(-4.0, 1.5)}, False),  # calmer, less accurate
        ({"adam_spike": L(5.0, 1.4), "spike_ratio": L(1.12), "acc_change": E(30.0, 15.0)}, None),   # straddles 1.10x
        ({"adam_spike": L(5.0, 1.4), "spike_ratio": L(4.0, 1.4), "acc_change": E(0.0, 1.5)}, None),  # accuracy straddles -1
        ({"adam_spike": L(1.15), "spike_ratio": L(1.3), "acc_change": E(1.0, 1.5)}, None),          # Adam stable: no regime
    ],
    "tr-radam": [
        ({"adam_spike": L(5.0, 1.4), "adam_over_radam": L(5.0, 1.4), "radam_over_warmup": L(0.9),
          "acc_change": E(30.0, 15.0)}, True),
        ({"adam_spike": L(5.0, 1.4), "adam_over_radam": L(1.0), "radam_over_warmup": L(0.9),
          "acc_change": E(30.0, 15.0)}, False),                                            # no calmer than Adam
        ({"adam_spike": L(5.0, 1.4), "adam_over_radam": L(5.0, 1.4), "radam_over_warmup": L(1.4),
          "acc_change": E(30.0, 15.0)}, False),                                            # warmup clearly calmer
        ({"adam_spike": L(5.0, 1.4), "adam_over_radam": L(5.0, 1.4), "radam_over_warmup": L(0.9),
          "acc_change": E(-5.0, 1.5)}, False),                                             # costs accuracy
        ({"adam_spike": L(5.0, 1.4), "adam_over_radam": L(5.0, 1.4), "radam_over_warmup": L(1.08),
          "acc_change": E(30.0, 15.0)}, None),                                             # straddles 1.10x
        ({"adam_spike": L(1.2, 1.2), "adam_over_radam": L(1.2), "radam_over_warmup": L(0.9),
          "acc_change": E(1.0, 1.5)}, None),                                               # Adam not unstable
    ],
    "tr-smooth": [
        ({"overconfidence": E(0.05, 0.01), "ece_reduction": E(0.03, 0.01), "acc_change": E(0.0, 0.5)}, True),
        ({"overconfidence": E(0.05, 0.01), "ece_reduction": E(-0.09, 0.01), "acc_change": E(0.0, 0.5)}, False),
        ({"overconfidence": E(0.05, 0.01), "ece_reduction": E(0.03, 0.01), "acc_change": E(-3.0, 0.5)}, False),
        ({"overconfidence": E(0.05, 0.01), "ece_reduction": E(0.012, 0.01), "acc_change": E(0.0, 0.5)}, None),
        ({"overconfidence": E(0.01, 0.005), "ece_reduction": E(0.03, 0.01), "acc_change": E(0.0, 0.5)}, None),  # not over-confident
        ({"overconfidence": E(0.03, 0.02), "ece_reduction": E(0.03, 0.01), "acc_change": E(0.0, 0.5)}, None),   # unsure
    ],
}
