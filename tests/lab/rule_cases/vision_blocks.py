"""Verdict-rule cases of the vision-block cards (vis-vit, vis-se-cbam, vis-dilated, vis-spp, vis-upsample,
vis-aug, vis-finetune, vis-leaves), written from each rule's docstring."""

from __future__ import annotations

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    "vis-dilated": [
        ({"mismatches": 0, "growth": 5.7, "holes_equal": 6, "holes_hdc": 0}, True),
        ({"mismatches": 1, "growth": 5.7, "holes_equal": 6, "holes_hdc": 0}, False),   # analytic != empirical
        ({"mismatches": 0, "growth": 1.5, "holes_equal": 6, "holes_hdc": 0}, False),   # no real growth
        ({"mismatches": 0, "growth": 5.7, "holes_equal": 0, "holes_hdc": 0}, False),   # no gridding seen
        ({"mismatches": 0, "growth": 5.7, "holes_equal": 6, "holes_hdc": 2}, False),   # HDC grids too
    ],
}
