"""Softmax multi-head self-attention through :func:`danlu.kernels.flash_attention` (arXiv:1706.03762)."""

from __future__ import annotations

import torch

from danlu.attention.base import ATTENTIONS, SelfAttentionBase
from danlu.kernels import flash_attention


@ATTENTIONS.register("softmax")
class SoftmaxAttention(SelfAttentionBase):
    """``softmax(q k^T / sqrt(Dh)) v`` per head, exact, via the flash kernels (no N×N on the reference path).

    Extra options: ``backend`` (flash_attention backend, default ``"auto"``).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 backend: str = "auto", **kw) -> None:
        super().__init__(dim, heads, causal, dropout, **kw)
        self.backend = backend

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        m = None if mask is None else mask[:, None, None, :]                      # (B, 1, 1, N)
        return flash_attention(q, k, v, causal=self.causal, backend=self.backend, mask=m)
