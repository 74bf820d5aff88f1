"""The registry of self-attention kinds and the base class giving them one constructor.

Every kind is ``Kind(dim, heads=1, causal=False, dropout=0.0, *, rope=False, device=None,
dtype=None, **kind_options)`` and maps ``x (B, N, dim)`` (plus an optional key keep-mask
``mask (B, N)``, True = a real token) to ``(B, N, dim)``. Create one by name::

    >>> import torch
    >>> from danlu.attention import create_attention
    >>> att = create_attention("linear", dim=32, heads=4, causal=True)
    >>> att(torch.randn(2, 10, 32)).shape
    torch.Size([2, 10, 32])

A query that can see no unmasked key outputs zeros (before the output projection), in every kind.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from danlu.errors import DanluError
from danlu.registry import Registry

ATTENTIONS: Registry[type[nn.Module]] = Registry("attention kind")


def list_attentions() -> list[str]:
    """Registered attention kinds."""
    return ATTENTIONS.names()


def create_attention(kind: str, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0,
                     **kwargs: Any) -> nn.Module:
    """Build the attention kind ``kind`` with the common constructor (see the module docstring)."""
    return ATTENTIONS.get(kind)(dim, heads=heads, causal=causal, dropout=dropout, **kwargs)


def check_tokens(x: torch.Tensor, dim: int, mask: torch.Tensor | None, where: str) -> None:
    """Check x (B, N, dim) and mask (B, N) bool; errors name both shapes."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise DanluError(f"{where}: x must be (B, N, dim={dim}), got {got}")
    if x.shape[-1] != dim:
        raise DanluError(f"{where}: x of shape {tuple(x.shape)} does not match the module dim {dim} "
                         f"(expected (B, N, {dim}))")
    if not x.is_floating_point():
        raise DanluError(f"{where}: x must be floating point, got {x.dtype}")
    if mask is not None:
        if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
            raise DanluError(f"{where}: mask must be a bool tensor (B, N) with True = keep")
        if tuple(mask.shape) != tuple(x.shape[:2]):
            raise DanluError(f"{where}: mask of shape {tuple(mask.shape)} does not match x {tuple(x.shape)}; "
                             f"expected (B, N) = {tuple(x.shape[:2])}")


class SelfAttentionBase(nn.Module):
    """Shared parts: q/k/v projections (B, N, dim) -> 3 x (B, H, N, dim/H), optional RoPE, output projection.

    Subclasses implement :meth:`attend` (q, k, v (B, H, N, Dh), mask (B, N) | None) -> (B, H, N, Dh).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 rope: bool = False, qkv_bias: bool = True, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if dim < 1 or heads < 1 or dim % heads:
            raise DanluError(f"attention: dim ({dim}) must be a positive multiple of heads ({heads})")
        fk = {"device": device, "dtype": dtype}
        self.dim, self.heads, self.head_dim, self.causal = dim, heads, dim // heads, bool(causal)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, **fk)
        self.proj = nn.Linear(dim, dim, **fk)
        self.drop = nn.Dropout(dropout)
        if rope:
            from danlu.attention.positional import RotaryEmbedding

            self.rope: nn.Module | None = RotaryEmbedding(self.head_dim)
        else:
            self.rope = None

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (3, B, H, N, Dh)
        q, k, v = qkv.unbind(0)
        if self.rope is not None:
            q, k = self.rope(q), self.rope(k)
        return q, k, v

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, N, dim), mask (B, N) bool (True = real token) -> (B, N, dim)."""
        check_tokens(x, self.dim, mask, type(self).__name__)
        q, k, v = self.split(x)                                                   # (B, H, N, Dh)
        o = self.attend(q, k, v, mask)                                            # (B, H, N, Dh)
        o = o.transpose(1, 2).reshape(x.shape[0], x.shape[1], self.dim)           # (B, N, dim)
        return self.drop(self.proj(o))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, heads={self.heads}, causal={self.causal}"


def keep_mask(n_q: int, n_k: int, causal: bool, mask: torch.Tensor | None, device: torch.device) -> torch.Tensor:
    """Dense keep-mask (B or 1, 1, Nq, Nk) from causality and a key mask (B, Nk)."""
    keep = torch.ones(n_q, n_k, dtype=torch.bool, device=device)
    if causal:
        keep = torch.tril(keep)
    keep = keep[None, None]
    if mask is not None:
        keep = keep & mask[:, None, None, :]
    return keep
