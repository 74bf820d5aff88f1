"""Attention kinds; importing this package fills :data:`danlu.attention.base.ATTENTIONS`."""

from danlu.attention.kinds import (  # noqa: F401
    additive,
    gau,
    linear,
    nw,
    softmax,
    sparse,
    transnormer,
)
