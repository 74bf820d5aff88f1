"""Rule cases for tr-gn, tr-adamw, tr-cyclic, tr-relu, vis-bn and vis-resnet-grad.

Each case is written from the card's pre-registered criterion (its rule's docstring): intervals
that clear the margin (held), fall wholly short of it (not held) or straddle it (inconclusive).
"""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    # changes in accuracy points from batch 32 to batch 2; margin 2 points
    "tr-gn": [
        ({"bn_change": E(-10, 2), "gn_change": E(0, 1), "gap": E(10, 2)}, True),      # the paper's picture
        ({"bn_change": E(1, 1.5), "gn_change": E(3, 3), "gap": E(2, 2)}, False),      # BN does not drop (seen here)
        ({"bn_change": E(-10, 2), "gn_change": E(-8, 2), "gap": E(2, 1)}, False),    # GN drops as well
        ({"bn_change": E(-3, 0.5), "gn_change": E(0, 0.5), "gap": E(1.5, 0.2)}, False),  # gap below the margin
        ({"bn_change": E(-3, 2), "gn_change": E(0, 1), "gap": E(3, 0.5)}, None),     # BN's drop straddles -2
        ({"bn_change": E(0.2, 2.3), "gn_change": E(2.7, 3.7), "gap": E(2.5, 2.3)}, None),  # seeds 0-2 at 3 seeds
    ],
    # |slope(Adam+L2)| - |slope(AdamW)| in decades per decade; "matters" = smaller median row range
    "tr-adamw": [
        ({"slope_gap": E(0.9, 0.3), "decay_matters": 0.3}, True),     # AdamW's good region axis-aligned
        ({"slope_gap": E(-1.0, 0.3), "decay_matters": 0.3}, False),   # AdamW's good decay moves more
        ({"slope_gap": E(0.1, 0.1), "decay_matters": 0.3}, False),    # equal slopes: no less dependence
        ({"slope_gap": E(0.5, 0.5), "decay_matters": 0.3}, None),     # straddles the margin
        ({"slope_gap": E(0.9, 0.3), "decay_matters": 0.01}, None),    # the decay does not change the result
    ],
    # single - ensemble: NLL in nats, error in points
    "tr-cyclic": [
        ({"nll_gain": E(0.03, 0.01), "err_gain": E(0.3, 0.3)}, True),
        ({"nll_gain": E(-0.014, 0.005), "err_gain": E(0.4, 0.6)}, False),   # seen: the ensemble's NLL is worse
        ({"nll_gain": E(0.03, 0.01), "err_gain": E(-2.0, 0.5)}, False),     # lower NLL but more errors
        ({"nll_gain": E(0.006, 0.005), "err_gain": E(0.3, 0.3)}, None),     # NLL gain straddles its margin
        ({"nll_gain": E(0.0005, 0.0002), "err_gain": E(0.3, 0.3)}, False),  # a real but negligible gain
    ],
    # log10(first/last) sigmoid - relu (orders of magnitude); test accuracy relu - sigmoid (points)
    "tr-relu": [
        ({"ratio_gap": E(-5.5, 0.3), "acc_gain": E(40, 8)}, True),
        ({"ratio_gap": E(-0.2, 0.3), "acc_gain": E(40, 8)}, False),   # sigmoid's gradient does not vanish
        ({"ratio_gap": E(-5.5, 0.3), "acc_gain": E(0.5, 1.0)}, False),  # the tuned sigmoid net keeps up
        ({"ratio_gap": E(-5.5, 0.3), "acc_gain": E(6, 4)}, None),     # accuracy gain straddles 5 points
    ],
    # log(steps to the loss threshold without BN / with BN), each arm at its own best lr; margin log 1.25
    "vis-bn": [
        ({"speedup": E(math.log(2.0), 0.3)}, True),
        ({"speedup": E(math.log(0.8), 0.1)}, False),     # BN slower
        ({"speedup": E(math.log(1.05), 0.05)}, False),   # a speed-up too small to count
        ({"speedup": E(math.log(1.5), 0.4)}, None),      # straddles 1.25x
    ],
    # spread: plain - residual |log(first/last)|; loss: log(plain / residual final training loss)
    "vis-resnet-grad": [
        ({"spread_gap": E(4.1, 0.6), "loss_log_ratio": E(1.9, 0.8), "residual_train_acc": 0.99}, True),
        ({"spread_gap": E(0.1, 0.2), "loss_log_ratio": E(1.9, 0.8), "residual_train_acc": 0.99}, False),
        ({"spread_gap": E(4.1, 0.6), "loss_log_ratio": E(-0.5, 0.3), "residual_train_acc": 0.99}, False),
        ({"spread_gap": E(4.1, 0.6), "loss_log_ratio": E(1.9, 2.1), "residual_train_acc": 0.99}, None),
        ({"spread_gap": E(4.1, 0.6), "loss_log_ratio": E(math.log(6.7), 0.1), "residual_train_acc": 0.3}, None),
    ],
}
