"""Sequence datasets (seq_copy, seq_reverse, seq_addition, dates): registered in :mod:`danlu.seq.data`."""

import danlu.seq.data  # noqa: F401
