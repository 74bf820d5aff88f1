"""Gated Attention Unit and FLASH's mixed-chunk form ("Transformer Quality in Linear Time", arXiv:2202.10447).

GAU (single head by design; the common ``heads`` argument is accepted and ignored)::

    u = silu(x W_u)  (B, N, E)      v = silu(x W_v)  (B, N, E)      z = silu(x W_z)  (B, N, s)
    q = z * γ_q + β_q,  k = z * γ_k + β_k                           (shared z, per-dim scale/offset)
    A = relu(q k^T / N)²            (causal: lower triangle)         (B, N, N)
    out = (u ⊙ A v) W_o

FLASH (``chunk_size`` set): tokens are grouped in chunks of C; inside a chunk the quadratic
``relu(q k^T / C)²`` term (causal inside the chunk for causal LM) and across chunks an
un-normalized linear term with its own offsets: ``lin_q_c · Σ_{c' < c} lin_k_{c'}^T v_{c'} / C``
(non-causal: all chunks, divided by N). Cost O(N·C·s + N·s·E). The paper's relative position
bias is left out. Masked keys get ``v = 0`` so they add nothing; a row seeing no key outputs 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from danlu.attention.base import ATTENTIONS, check_tokens


class ScaleOffset(nn.Module):
    """``z * γ + β`` with one (γ, β) per output head: z (..., s) -> (..., heads, s)."""

    def __init__(self, dim: int, heads: int, device=None, dtype=None) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(heads, dim, device=device, dtype=dtype) + 0.02 *
                                  torch.randn(heads, dim, device=device, dtype=dtype))
        self.beta = nn.Parameter(torch.zeros(heads, dim, device=device, dtype=dtype))

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = z[..., None, :] * self.gamma + self.beta                            # (..., heads, s)
        return out.unbind(-2)


@ATTENTIONS.register("gau")
class GatedAttentionUnit(nn.Module):
    """GAU token mixer x (B, N, dim) -> (B, N, dim); ``chunk_size`` switches to FLASH's mixed-chunk form.

    Extra options: ``expansion`` (E = expansion·dim, default 2), ``qk_dim`` (s, default min(128, dim)),
    ``chunk_size`` (None: quadratic GAU; int: mixed-chunk FLASH).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 expansion: int = 2, qk_dim: int | None = None, chunk_size: int | None = None,
                 device=None, dtype=None, **_: object) -> None:
        super().__init__()
        fk = {"device": device, "dtype": dtype}
        self.dim, self.causal, self.chunk_size = dim, bool(causal), chunk_size
        self.e, self.s = expansion * dim, qk_dim or min(128, dim)
        self.to_uvz = nn.Linear(dim, 2 * self.e + self.s, **fk)
        self.offsets = ScaleOffset(self.s, 4 if chunk_size else 2, **fk)
        self.out = nn.Linear(self.e, dim, **fk)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        check_tokens(x, self.dim, mask, "GatedAttentionUnit")
        u, v, z = F.silu(self.to_uvz(x)).split([self.e, self.e, self.s], -1)      # (B, N, E), (B, N, E), (B, N, s)
        if mask is not None:
            v = v * mask[..., None].to(v.dtype)                                   # masked keys carry nothing
        mixed = self._quadratic(z, v) if self.chunk_size is None else self._mixed_chunk(z, v)
        return self.drop(self.out(u * mixed))

    def _quadratic(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        q, k = self.offsets(z)                                                    # (B, N, s)
        n = z.shape[1]
        a = F.relu(torch.matmul(q, k.transpose(-1, -2)) / n) ** 2                 # (B, N, N)
        if self.causal:
            a = torch.tril(a)
        return torch.matmul(a, v)                                                 # (B, N, E)

    def _mixed_chunk(self, z: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        b, n, _ = z.shape
        c = int(self.chunk_size)
        g = -(-n // c)
        pad = g * c - n
        qq, kq, ql, kl = (F.pad(t, (0, 0, 0, pad)).view(b, g, c, self.s) for t in self.offsets(z))  # (B, G, C, s)
        vc = F.pad(v, (0, 0, 0, pad)).view(b, g, c, self.e)                       # (B, G, C, E); pad v = 0
        a = F.relu(torch.matmul(qq, kq.transpose(-1, -2)) / c) ** 2               # (B, G, C, C)
        if self.causal:
            a = torch.tril(a)
        quad = torch.matmul(a, vc)                                                # (B, G, C, E)
        if self.causal:
            kv = torch.matmul(kl.transpose(-1, -2), vc) / c                       # (B, G, s, E)
            kv = F.pad(kv.cumsum(1), (0, 0, 0, 0, 1, 0))[:, :-1]                  # exclusive: chunks before
            lin = torch.matmul(ql, kv)                                            # (B, G, C, E)
        else:
            kv = torch.einsum("bgcs,bgce->bse", kl, vc) / n                       # (B, s, E)
            lin = torch.einsum("bgcs,bse->bgce", ql, kv)
        return (quad + lin).reshape(b, g * c, self.e)[:, :n]

    def extra_repr(self) -> str:
        return f"dim={self.dim}, E={self.e}, s={self.s}, causal={self.causal}, chunk_size={self.chunk_size}"


@ATTENTIONS.register("flash_gau")
class FlashGAU(GatedAttentionUnit):
    """FLASH: GAU with the mixed-chunk linear form (default ``chunk_size=64``)."""

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 chunk_size: int = 64, **kw) -> None:
        super().__init__(dim, heads, causal, dropout, chunk_size=chunk_size, **kw)
