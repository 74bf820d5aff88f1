"""Additive (Bahdanau) attention: ``score = w_v · tanh(W_q q + W_k k)`` (Bahdanau et al., arXiv:1409.0473)."""

from __future__ import annotations

import torch
from torch import nn

from danlu.attention.base import ATTENTIONS, SelfAttentionBase, keep_mask
from danlu.attention.functional import additive_scores, masked_softmax


@ATTENTIONS.register("additive")
class AdditiveAttention(SelfAttentionBase):
    """Multi-head self-attention with additive scores; O(N²·hidden) memory, for short sequences.

    Extra options: ``hidden`` (width of the tanh layer, default the head dim).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 hidden: int | None = None, device=None, dtype=None, **kw) -> None:
        super().__init__(dim, heads, causal, dropout, device=device, dtype=dtype, **kw)
        hd = hidden or self.head_dim
        fk = {"device": device, "dtype": dtype}
        self.w_q = nn.Parameter(torch.randn(hd, self.head_dim, **fk) * self.head_dim ** -0.5)
        self.w_k = nn.Parameter(torch.randn(hd, self.head_dim, **fk) * self.head_dim ** -0.5)
        self.w_v = nn.Parameter(torch.randn(hd, **fk) * hd ** -0.5)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        s = additive_scores(q, k, self.w_q, self.w_k, self.w_v)                   # (B, H, N, N)
        w = masked_softmax(s, mask=keep_mask(q.shape[2], k.shape[2], self.causal, mask, q.device))
        return torch.matmul(w, v)                                                 # (B, H, N, Dh)
