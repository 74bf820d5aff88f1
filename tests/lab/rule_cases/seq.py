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
_RNN = {"gru_minus_lstm": E(0.01, 0.02), "depth_log_ratio": L(2.5, 1.1), "bi_train_ce": E(0.02, 0.01),
        "bi_generation_gap": E(40.0, 5.0)}
CASES["seq-rnn"] = [
    (_RNN, True),
    ({**_RNN, "gru_minus_lstm": E(0.2, 0.05)}, False),
    ({**_RNN, "depth_log_ratio": L(5.0, 1.1)}, False),
    ({**_RNN, "bi_train_ce": E(0.5, 0.1)}, False),
    ({**_RNN, "bi_generation_gap": E(2.0, 1.0)}, False),
    ({**_RNN, "gru_minus_lstm": E(0.04, 0.03)}, None),
    ({**_RNN, "depth_log_ratio": L(3.9, 1.2)}, None),
]
CASES["seq-transformer"] = [
    ({"exact_diff": E(2.0, 3.0)}, True),
    ({"exact_diff": E(-20.0, 5.0)}, False),
    ({"exact_diff": E(-5.0, 3.0)}, None),
]
