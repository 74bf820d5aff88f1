"""Verdict-rule cases of the attention cards (att-*), written from each rule's docstring.

Interval inputs are built with ``Estimate.of(mean, half_width)``; log-scale effects (ratios of
timings or errors) with ``L(ratio, factor)``: the interval ``ratio / factor .. ratio * factor``.
"""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of


def L(ratio: float, factor: float = 1.1) -> Estimate:
    """An estimate of log(ratio) whose interval is ratio/factor .. ratio*factor."""
    return Estimate.of(math.log(ratio), math.log(factor))


_SCORE = {"masked_max": 0.0, "rowsum_err": 4e-16, "sdpa_err": 0.0, "slope_unscaled": E(1.0, 0.03),
          "slope_scaled": E(0.02, 0.03), "maxw_unscaled": E(0.95, 0.02), "maxw_scaled": E(0.155, 0.01),
          "cost_ratio": L(40.0, 1.2)}

_MHA = {"path_slope": {"CNN": 1.0, "RNN": 1.0, "self-attention": 0.0}, "cnn_over_rnn_path": 0.5,
        "seq_slope": {"CNN": 0.0, "RNN": 1.0, "self-attention": 0.0},
        "flop_slope": {"CNN": 1.0, "RNN": 1.0, "self-attention": 1.94},
        "time_slope": {"CNN": E(0.85, 0.1), "RNN": E(1.05, 0.05), "self-attention": E(1.86, 0.06)}, "parity": 6e-8}

CASES = {
    "att-nw": [
        ({"kernel_gap": 1e-8, "mse_ratio": L(6.0, 1.5)}, True),
        ({"kernel_gap": 1e-3, "mse_ratio": L(6.0, 1.5)}, False),      # the module is not the Gaussian kernel
        ({"kernel_gap": 1e-8, "mse_ratio": L(1.0, 1.1)}, False),      # no gain
        ({"kernel_gap": 1e-8, "mse_ratio": L(1.3, 1.2)}, None),       # interval straddles 1.25x
    ],
    "att-performer": [
        ({"slope_orthogonal": E(-0.5, 0.05), "slope_iid": E(-0.45, 0.05), "orth_over_iid": L(0.87, 1.03)}, True),
        ({"slope_orthogonal": E(-0.1, 0.05), "slope_iid": E(-0.45, 0.05), "orth_over_iid": L(0.87, 1.03)}, False),
        ({"slope_orthogonal": E(-0.5, 0.05), "slope_iid": E(-0.45, 0.05), "orth_over_iid": L(1.10, 1.03)}, False),
        ({"slope_orthogonal": E(-0.5, 0.05), "slope_iid": E(-0.25, 0.10), "orth_over_iid": L(0.87, 1.03)}, None),
        ({"slope_orthogonal": E(-0.5, 0.05), "slope_iid": E(-0.45, 0.05), "orth_over_iid": L(0.98, 1.05)}, None),
    ],
    "att-complexity": [
        ({"time_softmax": E(2.7, 0.1), "time_linear": E(1.1, 0.1), "time_performer": E(1.2, 0.1), "mem_softmax": 2.0,
          "mem_flash": 0.6, "mem_linear": 1.0, "mem_performer": 1.0}, True),
        ({"time_softmax": E(1.1, 0.1), "time_linear": E(1.1, 0.1), "time_performer": E(1.2, 0.1), "mem_softmax": 2.0,
          "mem_flash": 0.6, "mem_linear": 1.0, "mem_performer": 1.0}, False),        # softmax time is linear
        ({"time_softmax": E(2.7, 0.1), "time_linear": E(1.1, 0.1), "time_performer": E(1.2, 0.1), "mem_softmax": 2.0,
          "mem_flash": 1.9, "mem_linear": 1.0, "mem_performer": 1.0}, False),        # flash memory quadratic
        ({"time_softmax": E(2.7, 0.1), "time_linear": E(1.9, 0.2), "time_performer": E(1.2, 0.1), "mem_softmax": 2.0,
          "mem_flash": 0.6, "mem_linear": 1.0, "mem_performer": 1.0}, False),        # linear time quadratic
        ({"time_softmax": E(2.7, 0.1), "time_linear": E(1.4, 0.5), "time_performer": E(1.2, 0.1), "mem_softmax": 2.0,
          "mem_flash": 0.6, "mem_linear": 1.0, "mem_performer": 1.0}, None),         # noisy: straddles 1.5
        ({"time_softmax": E(1.8, 0.4), "time_linear": E(1.1, 0.1), "time_performer": E(1.2, 0.1), "mem_softmax": 2.0,
          "mem_flash": 0.6, "mem_linear": 1.0, "mem_performer": 1.0}, None),
    ],
    "att-quality": [
        ({"softmax_accuracy": E(1.0, 0.0), "gap_linear": E(0.2, 0.1), "gap_performer": E(0.3, 0.2)}, True),
        ({"softmax_accuracy": E(0.9, 0.05), "gap_linear": E(-0.1, 0.05), "gap_performer": E(0.3, 0.2)}, False),
        ({"softmax_accuracy": E(1.0, 0.0), "gap_linear": E(0.06, 0.11), "gap_performer": E(0.3, 0.2)}, None),
        ({"softmax_accuracy": E(0.3, 0.05), "gap_linear": E(0.2, 0.1), "gap_performer": E(0.3, 0.2)}, None),  # did not learn
    ],
    "att-sparse": [
        ({"max_abs_diff": 7e-7, "time_ratios": {"local": L(0.4), "strided": L(0.3), "block": L(0.27)}}, True),
        ({"max_abs_diff": 7e-7, "time_ratios": {"local": L(0.4), "strided": L(1.7), "block": L(0.27)}}, False),
        ({"max_abs_diff": 1e-3, "time_ratios": {"local": L(0.4), "strided": L(0.3), "block": L(0.27)}}, False),
        ({"max_abs_diff": 7e-7, "time_ratios": {"local": L(0.4), "strided": L(0.3), "block": L(0.5, 1.2)}}, None),
    ],
    "att-transnormer": [
        ({"tail_ratio": L(1.6, 1.2), "local_ratio": L(4.0, 1.05)}, True),
        ({"tail_ratio": L(0.8, 1.1), "local_ratio": L(4.0, 1.05)}, False),    # vanilla's tail lighter
        ({"tail_ratio": L(1.6, 1.2), "local_ratio": L(1.0, 1.05)}, False),    # no dilution (the old setup's 1.000 vs 1.000)
        ({"tail_ratio": L(1.1, 1.3), "local_ratio": L(4.0, 1.05)}, None),
        ({"tail_ratio": L(1.6, 1.2), "local_ratio": L(1.3, 1.1)}, None),
    ],
    "att-score": [
        ({**_SCORE}, True),
        ({**_SCORE, "masked_max": 1e-9}, False),                      # masked keys keep a sliver of weight
        ({**_SCORE, "sdpa_err": 1e-3}, False),                        # differs from torch SDPA
        ({**_SCORE, "slope_scaled": E(0.9, 0.05)}, False),            # scaling does not stop the growth
        ({**_SCORE, "maxw_unscaled": E(0.5, 0.05)}, False),           # unscaled softmax not saturated
        ({**_SCORE, "cost_ratio": L(1.2)}, False),                    # additive not costlier
        ({**_SCORE, "maxw_unscaled": E(0.91, 0.03)}, None),           # straddles 0.9
        ({**_SCORE, "slope_scaled": E(0.2, 0.1)}, None),              # straddles 0.25
    ],
    "att-mha": [
        ({**_MHA}, True),
        ({**_MHA, "path_slope": {"CNN": 1.0, "RNN": 1.0, "self-attention": 1.0}}, False),   # attention path grows
        ({**_MHA, "cnn_over_rnn_path": 1.0}, False),                                      # CNN no shorter than RNN
        ({**_MHA, "seq_slope": {"CNN": 0.0, "RNN": 0.0, "self-attention": 0.0}}, False),  # RNN not sequential
        ({**_MHA, "flop_slope": {"CNN": 1.0, "RNN": 1.0, "self-attention": 1.0}}, False),
        ({**_MHA, "parity": 1e-2}, False),                                                # not torch's MHA
        ({**_MHA, "time_slope": {"CNN": E(0.85, 0.1), "RNN": E(1.05, 0.05), "self-attention": E(1.1, 0.1)}}, False),
        ({**_MHA, "time_slope": {"CNN": E(0.85, 0.1), "RNN": E(1.05, 0.05), "self-attention": E(1.4, 0.5)}}, None),
    ],
    "att-gau": [
        ({"quality_gap": E(-0.01, 0.02), "cost_ratio": L(0.85, 1.05), "baseline_accuracy": E(0.99, 0.01), "chance": 0.125},
         True),
        ({"quality_gap": E(-0.30, 0.10), "cost_ratio": L(0.85, 1.05), "baseline_accuracy": E(0.99, 0.01), "chance": 0.125},
         False),                                                       # GAU clearly worse
        ({"quality_gap": E(-0.01, 0.02), "cost_ratio": L(1.30, 1.05), "baseline_accuracy": E(0.99, 0.01), "chance": 0.125},
         False),                                                       # GAU costlier
        ({"quality_gap": E(-0.18, 0.19), "cost_ratio": L(0.85, 1.05), "baseline_accuracy": E(0.99, 0.01), "chance": 0.125},
         None),                                                        # gap interval straddles -0.05
        ({"quality_gap": E(0.0, 0.01), "cost_ratio": L(0.85, 1.05), "baseline_accuracy": E(0.13, 0.01), "chance": 0.125},
         None),                                                        # baseline at chance: nothing learned
    ],
}
