"""Verdict-rule cases of tr-margin, tr-wgan and tr-prior, written from each rule's docstring."""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of


def L(ratio: float, factor: float = 1.1) -> Estimate:
    """An estimate of log(ratio) whose interval is ratio/factor .. ratio*factor."""
    return Estimate.of(math.log(ratio), math.log(factor))


_PRIOR = {"collapse": E(12.0, 3.0), "rrr_gain": E(9.0, 2.0), "rmse_ratio": L(4.0, 1.3), "plain_train_rmse": E(0.3, 0.1)}

CASES = {
    "tr-margin": [
        ({"auc_gain": E(0.03, 0.01), "tar_gain": E(0.05, 0.02)}, True),
        ({"auc_gain": E(-0.03, 0.01), "tar_gain": E(0.05, 0.02)}, False),     # margins verify worse
        ({"auc_gain": E(0.03, 0.01), "tar_gain": E(-0.05, 0.02)}, False),     # TAR@FAR worse
        ({"auc_gain": E(0.016, 0.025), "tar_gain": E(0.05, 0.02)}, None),     # AUC interval straddles 0
    ],
    "tr-wgan": [
        ({"modes_gain": E(3.0, 1.0), "rank_corr": E(0.8, 0.1), "best_modes": E(6.0, 1.0)}, True),
        ({"modes_gain": E(-3.0, 1.0), "rank_corr": E(0.8, 0.1), "best_modes": E(6.0, 1.0)}, False),     # WGAN-GP covers fewer modes
        ({"modes_gain": E(3.0, 1.0), "rank_corr": E(0.1, 0.2), "best_modes": E(6.0, 1.0)}, False),      # the critic does not track W1
        ({"modes_gain": E(1.0, 2.0), "rank_corr": E(0.8, 0.1), "best_modes": E(6.0, 1.0)}, None),       # modes gain straddles 0
        ({"modes_gain": E(3.0, 1.0), "rank_corr": E(0.55, 0.2), "best_modes": E(6.0, 1.0)}, None),  # corr. straddles 0.5
        ({"modes_gain": E(-0.3, 2.9), "rank_corr": E(0.35, 0.15), "best_modes": E(0.7, 1.4)}, None),  # nothing learned
    ],
    "tr-prior": [
        ({**_PRIOR}, True),
        ({**_PRIOR, "collapse": E(0.5, 1.0)}, False),                          # no collapse onto the decoy
        ({**_PRIOR, "rrr_gain": E(-2.0, 1.0)}, False),                         # RRR does not help
        ({**_PRIOR, "rmse_ratio": L(1.1, 1.2)}, False),                        # CoordConv no better
        ({**_PRIOR, "rrr_gain": E(3.5, 2.0)}, None),                           # gain straddles 3 points
        ({**_PRIOR, "plain_train_rmse": E(3.0, 0.5)}, None),                   # plain CNN never fitted: no contest
    ],
}
