"""Linear attention (arXiv:2006.16236) and Performer FAVOR+ (arXiv:2009.14794) as self-attention kinds."""

from __future__ import annotations

import torch

from danlu.attention.base import ATTENTIONS, SelfAttentionBase
from danlu.kernels import linear_attention
from danlu.kernels.linear_attention import PerformerFeatureMap, make_feature_map


def _zero_masked_keys(kf: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Masked keys get zero features: they add nothing to any sum (exactly like a -inf score)."""
    return kf if mask is None else kf * mask[:, None, :, None].to(kf.dtype)


@ATTENTIONS.register("linear")
class LinearAttention(SelfAttentionBase):
    """``φ(q)(φ(k)^T v) / φ(q)·Σφ(k)`` per head via :func:`danlu.kernels.linear_attention`.

    Extra options: ``feature_map`` (default ``elu1``), ``normalize`` (True), ``chunk_size`` (64),
    ``backend`` (``auto``).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 feature_map: str = "elu1", normalize: bool = True, chunk_size: int = 64, backend: str = "auto",
                 **kw) -> None:
        super().__init__(dim, heads, causal, dropout, **kw)
        self.phi = make_feature_map(feature_map, self.head_dim)
        self.normalize, self.chunk_size, self.backend = normalize, chunk_size, backend

    def features(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.phi(q), self.phi(k)

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        qf, kf = self.features(q, k)                                              # (B, H, N, Dk)
        kf = _zero_masked_keys(kf, mask)
        return linear_attention(qf, kf, v, causal=self.causal, feature_map="identity", normalize=self.normalize,
                                chunk_size=self.chunk_size, backend=self.backend)


@ATTENTIONS.register("performer")
class PerformerAttention(LinearAttention):
    """FAVOR+: softmax attention estimated with positive orthogonal random features.

    Extra options: ``num_features`` (m, default Dh·log Dh), ``orthogonal`` (True),
    ``redraw_interval`` (redraw ω every this many training forward passes; 0 = never), ``seed``.
    Stabilizers (a per-query-row max and one max over all keys) are subtracted in the exponent;
    they cancel exactly in the normalized ratio.
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 num_features: int | None = None, orthogonal: bool = True, redraw_interval: int = 1000,
                 seed: int | None = 0, chunk_size: int = 64, backend: str = "auto", device=None, dtype=None,
                 **kw) -> None:
        super().__init__(dim, heads, causal, dropout, feature_map="identity", normalize=True, chunk_size=chunk_size,
                         backend=backend, device=device, dtype=dtype, **kw)
        self.fmap = PerformerFeatureMap(self.head_dim, num_features, orthogonal, seed, device=device, dtype=dtype)
        self.redraw_interval = redraw_interval
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def features(self, q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training and self.redraw_interval > 0:
            if self.steps.item() > 0 and self.steps.item() % self.redraw_interval == 0:
                self.fmap.redraw()
            self.steps += 1
        w = self.fmap.projection
        d = q.shape[-1]
        qw = torch.matmul(q * d ** -0.25, w.T.to(q.dtype))                        # (B, H, N, m)
        kw = torch.matmul(k * d ** -0.25, w.T.to(k.dtype))
        q_stab = qw.amax(-1, keepdim=True).detach()                               # per query row
        k_stab = kw.amax(dim=(-1, -2), keepdim=True).detach()                     # one per (B, H)
        return self.fmap(q, q_stab), self.fmap(k, k_stab)
