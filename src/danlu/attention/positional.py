"""Positional encodings: sinusoidal (Vaswani et al., arXiv:1706.03762) and rotary (RoFormer, arXiv:2104.09864).

* :func:`sinusoidal_encoding` / :class:`SinusoidalPositionalEncoding`:
  ``PE[p, 2i] = sin(p / base^(2i/d))``, ``PE[p, 2i+1] = cos(p / base^(2i/d))``, added to embeddings.
* :func:`apply_rope` / :class:`RotaryEmbedding`: rotate each pair ``(x_{2i}, x_{2i+1})`` of a
  query/key at position ``p`` by the angle ``p * base^(-2i/d)`` (the paper's interleaved pairs),
  so that ``<R_m q, R_n k>`` depends only on ``m - n``.
"""

from __future__ import annotations

import torch
from torch import nn

from danlu.errors import DanluError


def _inv_freq(dim: int, base: float, device=None) -> torch.Tensor:
    return base ** (-torch.arange(0, dim, 2, dtype=torch.float64, device=device) / dim)  # (dim/2,)


def sinusoidal_encoding(n: int, dim: int, base: float = 10000.0, *, offset: int = 0,
                        dtype: torch.dtype = torch.float32, device=None) -> torch.Tensor:
    """(n, dim) table of sinusoidal encodings for positions ``offset .. offset+n-1`` (dim may be odd)."""
    if dim < 1:
        raise DanluError(f"sinusoidal_encoding: dim must be >= 1, got {dim}")
    pos = torch.arange(offset, offset + n, dtype=torch.float64, device=device)[:, None]  # (n, 1)
    ang = pos * _inv_freq(dim, base, device)[None]                                       # (n, ceil(dim/2))
    pe = torch.zeros(n, dim, dtype=torch.float64, device=device)
    pe[:, 0::2] = torch.sin(ang)
    pe[:, 1::2] = torch.cos(ang[:, : dim // 2])
    return pe.to(dtype)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the sinusoidal table to x (B, N, dim); optional dropout as in the Transformer."""

    def __init__(self, dim: int, dropout: float = 0.0, base: float = 10000.0) -> None:
        super().__init__()
        self.dim, self.base = dim, base
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.dim:
            raise DanluError(f"SinusoidalPositionalEncoding: x of shape {tuple(x.shape)} does not match "
                             f"(B, N, {self.dim})")
        pe = sinusoidal_encoding(x.shape[1], self.dim, self.base, offset=offset, dtype=x.dtype, device=x.device)
        return self.drop(x + pe)


def apply_rope(x: torch.Tensor, base: float = 10000.0, *, offset: int = 0) -> torch.Tensor:
    """Rotary embedding of x (..., N, D) (D even) at positions ``offset .. offset+N-1``."""
    d = x.shape[-1]
    if d % 2:
        raise DanluError(f"apply_rope: the last dim must be even, got x of shape {tuple(x.shape)}")
    n = x.shape[-2]
    pos = torch.arange(offset, offset + n, dtype=torch.float64, device=x.device)
    ang = pos[:, None] * _inv_freq(d, base, x.device)[None]                   # (N, D/2)
    cos, sin = torch.cos(ang).to(x.dtype), torch.sin(ang).to(x.dtype)
    x1, x2 = x[..., 0::2], x[..., 1::2]                                       # (..., N, D/2)
    out = torch.stack([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)         # (..., N, D/2, 2)
    return out.flatten(-2)


class RotaryEmbedding(nn.Module):
    """Module form of :func:`apply_rope` for (B, H, N, D) queries and keys."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        if dim % 2:
            raise DanluError(f"RotaryEmbedding: head dim must be even, got {dim}")
        self.dim, self.base = dim, base

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if x.shape[-1] != self.dim:
            raise DanluError(f"RotaryEmbedding: x of shape {tuple(x.shape)} does not match head dim {self.dim}")
        return apply_rope(x, self.base, offset=offset)
