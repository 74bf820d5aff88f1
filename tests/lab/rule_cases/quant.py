"""Rule cases for the quantization card (q-qat), written from its rule's docstring."""

from __future__ import annotations

from danlu.lab.evidence import Estimate

E = Estimate.of

CASES = {
    "q-qat": [
        ({"qat_vs_float": E(0.1, 0.4), "max_lsb": 1, "size_ratio": 3.9}, True),    # within 1 point, exact, 3.9x
        ({"qat_vs_float": E(-0.5, 0.3), "max_lsb": 0, "size_ratio": 3.6}, True),
        ({"qat_vs_float": E(-2.5, 0.5), "max_lsb": 0, "size_ratio": 3.9}, False),  # loses more than 1 point
        ({"qat_vs_float": E(0.1, 0.4), "max_lsb": 2, "size_ratio": 3.9}, False),   # runtime != simulation
        ({"qat_vs_float": E(0.1, 0.4), "max_lsb": 0, "size_ratio": 3.2}, False),   # not ~4x smaller
        ({"qat_vs_float": E(-0.9, 0.5), "max_lsb": 0, "size_ratio": 3.9}, None),   # interval straddles -1
    ],
}
