"""Attention as modules: one registry of self-attention kinds, MultiHeadAttention, positional encodings.

    >>> import torch
    >>> from danlu.attention import create_attention, list_attentions
    >>> "softmax" in list_attentions() and "performer" in list_attentions()
    True
    >>> create_attention("gau", dim=16, causal=True)(torch.randn(1, 5, 16)).shape
    torch.Size([1, 5, 16])

Kinds (``list_attentions()``): softmax, additive, linear, performer, gau, flash_gau, transnormer,
transnormer_diag, sparse, nw. Functional forms live in :mod:`danlu.kernels` and
:mod:`danlu.attention.functional`; the tiny LM in :mod:`danlu.attention.models`.
"""

from __future__ import annotations

from danlu.attention.base import ATTENTIONS, SelfAttentionBase, create_attention, list_attentions
from danlu.attention.functional import additive_scores, masked_softmax, scaled_dot_product_scores
from danlu.attention.mha import MultiHeadAttention
from danlu.attention.positional import (
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    apply_rope,
    sinusoidal_encoding,
)

from danlu.attention import kinds as _kinds  # noqa: E402,F401  isort: skip  (fills ATTENTIONS)
from danlu.attention.kinds.nw import NadarayaWatsonRegression, nadaraya_watson  # noqa: E402  isort: skip
from danlu.attention.kinds.sparse import SPARSE_PATTERNS, sparse_mask  # noqa: E402  isort: skip

__all__ = [
    "ATTENTIONS", "SPARSE_PATTERNS", "MultiHeadAttention", "NadarayaWatsonRegression", "RotaryEmbedding",
    "SelfAttentionBase", "SinusoidalPositionalEncoding", "additive_scores", "apply_rope", "create_attention",
    "list_attentions", "masked_softmax", "nadaraya_watson", "scaled_dot_product_scores", "sinusoidal_encoding",
    "sparse_mask",
]
