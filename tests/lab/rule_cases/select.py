"""Verdict-rule cases of sel-sv, written from its rule's docstring (the pre-registered criterion).

Inputs: the 2-D precision@k lifts over random (points, margin +10 each), the MNIST-5k hard-half
minus random-half accuracy (margin 0) and all-data minus hard-half accuracy (must stay below 2).
"""

from __future__ import annotations

from danlu.lab.evidence import Estimate

E = Estimate.of
GOOD = {"lift_el2n": E(30.0, 5.0), "lift_grand": E(25.0, 5.0), "gain_vs_random": E(1.5, 0.5),
        "gap_to_all": E(0.5, 0.8)}

CASES = {
    "sel-sv": [
        (GOOD, True),
        ({**GOOD, "lift_el2n": E(3.0, 2.0)}, False),        # EL2N points are no closer to the SVs than random
        ({**GOOD, "lift_grand": E(12.0, 4.0)}, None),       # GraNd lift interval straddles 10
        ({**GOOD, "gain_vs_random": E(-1.0, 0.4)}, False),  # the hard half loses to a random half
        ({**GOOD, "gain_vs_random": E(0.0, 0.2)}, None),    # no detectable difference from random
        ({**GOOD, "gap_to_all": E(4.0, 1.0)}, False),       # the hard half is far behind all data
        ({**GOOD, "gap_to_all": E(1.5, 1.0)}, None),        # may or may not be within 2 points
    ],
}
