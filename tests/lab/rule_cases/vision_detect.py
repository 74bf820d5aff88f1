"""Rule cases for the detection and segmentation cards (vis-detect, vis-segment), written from each rule's docstring."""

from __future__ import annotations

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    "vis-detect": [
        ({"ap50": E(0.53, 0.15, n=3)}, True),     # the quick run's picture: interval wholly above 0.3
        ({"ap50": E(0.05, 0.03, n=3)}, False),    # a detector that barely finds anything
        ({"ap50": E(0.35, 0.10, n=3)}, None),     # straddles 0.3
        ({"ap50": E(0.30, 0.0, n=3)}, None),      # exactly on the margin is not "above"
    ],
    "vis-segment": [
        # the FCN learns (MIoU well above 0.5) and PA flatters it (PA - MIoU clearly above 0.02)
        ({"miou": E(0.85, 0.03, n=3), "pa_minus_miou": E(0.10, 0.02, n=3)}, True),
        # the FCN does not learn: MIoU wholly below 0.5
        ({"miou": E(0.30, 0.05, n=3), "pa_minus_miou": E(0.55, 0.05, n=3)}, False),
        # PA does not flatter: PA - MIoU wholly below 0.02
        ({"miou": E(0.85, 0.03, n=3), "pa_minus_miou": E(-0.01, 0.01, n=3)}, False),
        # MIoU straddles 0.5
        ({"miou": E(0.52, 0.05, n=3), "pa_minus_miou": E(0.3, 0.02, n=3)}, None),
    ],
}
