"""Nadaraya-Watson kernel regression as attention (Nadaraya 1964, Watson 1964; d2l §11.2).

``f(x) = Σ_i softmax_i(-(w (x - x_i))² / 2) y_i``: a Gaussian kernel with width ``1/w`` turns
into softmax attention with query x, keys x_i and values y_i. ``w`` fixed is the non-parametric
estimator; ``w`` learned is the parametric attention pooling.
"""

from __future__ import annotations

import torch
from torch import nn

from danlu.attention.base import ATTENTIONS, SelfAttentionBase, keep_mask
from danlu.attention.functional import masked_softmax
from danlu.errors import DanluError


def nadaraya_watson_weights(queries: torch.Tensor, keys: torch.Tensor, width: float | torch.Tensor = 1.0,
                            ) -> torch.Tensor:
    """Attention weights softmax_j(-(w (q_i - k_j))² / 2): queries (..., Nq), keys (..., Nk) -> (..., Nq, Nk)."""
    if queries.shape[:-1] != keys.shape[:-1]:
        raise DanluError(f"nadaraya_watson: queries {tuple(queries.shape)} and keys {tuple(keys.shape)} "
                         f"must share leading dims")
    diff = queries[..., :, None] - keys[..., None, :]                            # (..., Nq, Nk)
    return torch.softmax(-((diff * width) ** 2) / 2, dim=-1)


def nadaraya_watson(queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
                    width: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Kernel regression: queries (..., Nq), keys (..., Nk), values (..., Nk) -> (..., Nq)."""
    if keys.shape != values.shape:
        raise DanluError(f"nadaraya_watson: keys {tuple(keys.shape)} and values {tuple(values.shape)} differ")
    return (nadaraya_watson_weights(queries, keys, width) * values[..., None, :]).sum(-1)


class NadarayaWatsonRegression(nn.Module):
    """Attention pooling with a learnable (``learn_width=True``) or fixed Gaussian width parameter ``w``."""

    def __init__(self, width: float = 1.0, learn_width: bool = True) -> None:
        super().__init__()
        w = torch.tensor(float(width))
        self.w = nn.Parameter(w) if learn_width else nn.Buffer(w)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        self.last_weights = nadaraya_watson_weights(queries, keys, self.w)        # kept for heatmaps
        return (self.last_weights * values[..., None, :]).sum(-1)


@ATTENTIONS.register("nw")
class NadarayaWatsonAttention(SelfAttentionBase):
    """Gaussian-kernel self-attention: scores ``-w_h² ||q_i - k_j||² / 2`` with a learned width per head.

    Extra options: ``width`` (initial w, default Dh^-1/2, so scores start near dot-product scale).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 width: float | None = None, device=None, dtype=None, **kw) -> None:
        super().__init__(dim, heads, causal, dropout, device=device, dtype=dtype, **kw)
        w0 = self.head_dim ** -0.5 if width is None else width
        self.width = nn.Parameter(torch.full((heads,), float(w0), device=device, dtype=dtype))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        d2 = (q * q).sum(-1)[..., :, None] + (k * k).sum(-1)[..., None, :] - 2 * q @ k.transpose(-1, -2)
        d2 = d2.clamp_min(0)                                                      # (B, H, N, N) squared distances
        s = -(self.width[:, None, None] ** 2) * d2 / 2
        w = masked_softmax(s, mask=keep_mask(q.shape[2], k.shape[2], self.causal, mask, q.device))
        return torch.matmul(w, v)
