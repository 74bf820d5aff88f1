"""Verdict-rule cases of the vision-block cards (vis-vit, vis-se-cbam, vis-dilated, vis-spp, vis-upsample,
vis-aug, vis-finetune, vis-leaves), written from each rule's docstring."""

from __future__ import annotations

import math

from danlu.lab.evidence import Estimate

E = Estimate.of

L = lambda ratio, factor: Estimate.of(math.log(ratio), math.log(factor))  # noqa: E731  log-ratio estimate

CASES = {
    "vis-finetune": [
        ({"gain_fewest": E(15.0, 5.0)}, True),
        ({"gain_fewest": E(3.0, 4.0)}, None),
        ({"gain_fewest": E(-3.0, 2.0)}, False),
    ],
    "vis-aug": [
        ({"gap_reduction": E(4.0, 1.5), "held_out_acc_change": E(1.0, 1.0)}, True),
        ({"gap_reduction": E(1.5, 2.0), "held_out_acc_change": E(1.0, 1.0)}, None),
        ({"gap_reduction": E(-1.0, 1.0), "held_out_acc_change": E(1.0, 1.0)}, False),
        ({"gap_reduction": E(6.0, 1.0), "held_out_acc_change": E(-6.0, 1.0)}, False),   # underfits instead
    ],
    "vis-se-cbam": [
        ({"se_gain": E(1.0, 0.5), "cbam_gain": E(0.0, 1.0), "se_extra": 0.05, "cbam_extra": 0.08}, True),
        ({"se_gain": E(-0.5, 1.0), "cbam_gain": E(1.5, 1.0), "se_extra": 0.05, "cbam_extra": 0.08}, True),
        ({"se_gain": E(0.2, 1.0), "cbam_gain": E(0.0, 1.0), "se_extra": 0.05, "cbam_extra": 0.08}, None),
        ({"se_gain": E(-2.0, 1.0), "cbam_gain": E(-1.5, 1.0), "se_extra": 0.05, "cbam_extra": 0.08}, False),
        ({"se_gain": E(1.0, 0.5), "cbam_gain": E(1.0, 0.5), "se_extra": 0.30, "cbam_extra": 0.40}, False),  # too big
    ],
    "vis-vit": [
        ({"vit_accuracy": E(0.8, 0.1)}, True),
        ({"vit_accuracy": E(0.55, 0.1)}, None),
        ({"vit_accuracy": E(0.2, 0.1)}, False),
    ],
    "vis-spp": [
        ({"lengths_equal": True, "worst_size_accuracy": E(0.9, 0.05)}, True),
        ({"lengths_equal": True, "worst_size_accuracy": E(0.7, 0.08)}, None),
        ({"lengths_equal": True, "worst_size_accuracy": E(0.4, 0.1)}, False),
        ({"lengths_equal": False, "worst_size_accuracy": E(0.9, 0.05)}, False),
    ],
    "vis-leaves": [
        ({"test_accuracy": E(0.9, 0.03)}, True),
        ({"test_accuracy": E(0.55, 0.1)}, None),
        ({"test_accuracy": E(0.3, 0.1)}, False),
    ],
    "vis-upsample": [
        ({"init_tconv": 3e-3, "init_icnr": 0.0, "init_resize": 0.0, "trained_ratio": L(10.0, 3.0)}, True),
        ({"init_tconv": 3e-3, "init_icnr": 0.0, "init_resize": 0.0, "trained_ratio": L(10.0, 20.0)}, None),
        ({"init_tconv": 3e-3, "init_icnr": 0.0, "init_resize": 0.0, "trained_ratio": L(0.1, 3.0)}, False),
        ({"init_tconv": 3e-5, "init_icnr": 0.0, "init_resize": 0.0, "trained_ratio": L(10.0, 3.0)}, False),  # no artefact
        ({"init_tconv": 3e-3, "init_icnr": 1e-3, "init_resize": 0.0, "trained_ratio": L(10.0, 3.0)}, False),  # ICNR grids
    ],
    "vis-dilated": [
        ({"mismatches": 0, "growth": 5.7, "holes_equal": 6, "holes_hdc": 0}, True),
        ({"mismatches": 1, "growth": 5.7, "holes_equal": 6, "holes_hdc": 0}, False),   # analytic != empirical
        ({"mismatches": 0, "growth": 1.5, "holes_equal": 6, "holes_hdc": 0}, False),   # no real growth
        ({"mismatches": 0, "growth": 5.7, "holes_equal": 0, "holes_hdc": 0}, False),   # no gridding seen
        ({"mismatches": 0, "growth": 5.7, "holes_equal": 6, "holes_hdc": 2}, False),   # HDC grids too
    ],
}
