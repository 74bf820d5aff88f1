"""TransNormer's two token mixers ("The Devil in Linear Transformer", Qin et al., arXiv:2210.10340).

* ``transnormer`` -> :class:`NormAttention`: linear attention **without** the ``φ(q)·Σφ(k)``
  denominator, whose output is normalized instead (RMSNorm over the merged heads). The paper
  shows the denominator makes gradients unbounded; the norm keeps them bounded.
* ``transnormer_diag`` -> :class:`DiagAttention`: softmax attention inside non-overlapping blocks
  of ``block_size`` tokens only (fixes "attention dilution": mass stays local).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from danlu.attention.base import ATTENTIONS, SelfAttentionBase, check_tokens
from danlu.kernels import flash_attention, linear_attention
from danlu.kernels.linear_attention import make_feature_map


@ATTENTIONS.register("transnormer")
class NormAttention(SelfAttentionBase):
    """``RMSNorm(φ(q)(φ(k)^T v)) W_o``: x (B, N, dim) -> (B, N, dim).

    Extra options: ``feature_map`` (default ``elu1``, as the paper's 1+elu), ``chunk_size`` (64).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 feature_map: str = "elu1", chunk_size: int = 64, device=None, dtype=None, **kw) -> None:
        super().__init__(dim, heads, causal, dropout, device=device, dtype=dtype, **kw)
        self.phi = make_feature_map(feature_map, self.head_dim)
        self.chunk_size = chunk_size
        self.norm = nn.RMSNorm(dim, device=device, dtype=dtype)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        kf = self.phi(k)
        if mask is not None:
            kf = kf * mask[:, None, :, None].to(kf.dtype)
        return linear_attention(self.phi(q), kf, v, causal=self.causal, feature_map="identity", normalize=False,
                                chunk_size=self.chunk_size)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        check_tokens(x, self.dim, mask, "NormAttention")
        q, k, v = self.split(x)
        o = self.attend(q, k, v, mask).transpose(1, 2).reshape(x.shape)           # (B, N, dim)
        return self.drop(self.proj(self.norm(o)))


@ATTENTIONS.register("transnormer_diag")
class DiagAttention(SelfAttentionBase):
    """Block-diagonal softmax attention: token i attends to tokens of its own block (causally if ``causal``).

    Extra options: ``block_size`` (default 64). Equal to dense softmax attention with the
    block-diagonal mask, at O(N·block) cost.
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 block_size: int = 64, **kw) -> None:
        super().__init__(dim, heads, causal, dropout, **kw)
        self.block_size = block_size

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        b, h, n, d = q.shape
        c = min(self.block_size, n)
        nb = -(-n // c)
        pad = nb * c - n
        blocks = [F.pad(t, (0, 0, 0, pad)).view(b, h * nb, c, d) for t in (q, k, v)]  # (B, H·nb, C, Dh)
        keep = torch.ones(b, n, dtype=torch.bool, device=q.device) if mask is None else mask
        keep = F.pad(keep, (0, pad), value=False).view(b, 1, nb, c)               # padding keys masked
        keep = keep.expand(b, h, nb, c).reshape(b, h * nb, 1, c)                  # (B, H·nb, 1, C)
        o = flash_attention(*blocks, causal=self.causal, mask=keep, backend="reference")
        return o.view(b, h, nb * c, d)[:, :, :n]
