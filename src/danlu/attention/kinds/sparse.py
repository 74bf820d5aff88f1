"""Sparse attention patterns: local window, strided, block (Child et al., "Generating Long Sequences
with Sparse Transformers", arXiv:1904.10509; block + global tokens as in BigBird, arXiv:2007.14062).

A pattern is a bool keep-mask (N, N) from :data:`SPARSE_PATTERNS`; :class:`SparseAttention`
runs exact softmax attention under it through the flash reference, which skips every
(block_q, block_k) tile with no kept entry, so the cost follows the pattern's density. The
result equals dense softmax attention with the same mask (tested).
"""

from __future__ import annotations

import torch

from danlu.attention.base import ATTENTIONS, SelfAttentionBase
from danlu.errors import DanluError
from danlu.kernels import flash_attention
from danlu.registry import Registry

SPARSE_PATTERNS: Registry = Registry("sparse pattern")


def _ij(n: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    # int16/int32 indices: the (N, N) temporaries of the comparisons cost 2-4 bytes, not int64's 8
    dtype = torch.int16 if n < 2**15 else torch.int32
    i = torch.arange(n, device=device, dtype=dtype)
    return i[:, None], i[None, :]


@SPARSE_PATTERNS.register("local")
def local_pattern(n: int, *, window: int = 16, device=None, **_) -> torch.Tensor:
    """Keep ``|i - j| < window``."""
    i, j = _ij(n, device)
    return (i - j).abs() < window


@SPARSE_PATTERNS.register("strided")
def strided_pattern(n: int, *, stride: int = 16, device=None, **_) -> torch.Tensor:
    """Sparse Transformer's strided pattern: the last ``stride`` tokens, plus every ``stride``-th one."""
    i, j = _ij(n, device)
    return ((i - j).abs() < stride) | ((i - j) % stride == 0)


@SPARSE_PATTERNS.register("block")
def block_pattern(n: int, *, block: int = 16, global_tokens: int = 0, device=None, **_) -> torch.Tensor:
    """Block-diagonal blocks of ``block`` tokens; the first ``global_tokens`` attend and are attended everywhere."""
    i, j = _ij(n, device)
    keep = (i // block) == (j // block)
    if global_tokens:
        keep = keep | (i < global_tokens) | (j < global_tokens)
    return keep


def sparse_mask(pattern: str, n: int, **kw) -> torch.Tensor:
    """The (N, N) keep-mask of a registered pattern."""
    for key in ("window", "stride", "block"):
        if key in kw and int(kw[key]) < 1:
            raise DanluError(f"sparse_mask: {key} must be >= 1, got {kw[key]}")
    return SPARSE_PATTERNS.get(pattern)(n, **kw)


@ATTENTIONS.register("sparse")
class SparseAttention(SelfAttentionBase):
    """Softmax attention restricted to a sparse pattern.

    Extra options: ``pattern`` (``local``, ``strided``, ``block``), ``window``, ``stride``, ``block``,
    ``global_tokens``, ``tile`` (flash tile size; smaller tiles skip more, default 32).
    """

    def __init__(self, dim: int, heads: int = 1, causal: bool = False, dropout: float = 0.0, *,
                 pattern: str = "local", window: int = 16, stride: int = 16, block: int = 16,
                 global_tokens: int = 0, tile: int = 32, **kw) -> None:
        super().__init__(dim, heads, causal, dropout, **kw)
        SPARSE_PATTERNS.get(pattern)  # unknown names fail at construction
        self.pattern, self.tile = pattern, tile
        self.pattern_kw = {"window": window, "stride": stride, "block": block, "global_tokens": global_tokens}

    def mask_for(self, n: int, mask: torch.Tensor | None, device) -> torch.Tensor:
        keep = sparse_mask(self.pattern, n, device=device, **self.pattern_kw)[None, None]  # (1, 1, N, N)
        if mask is not None:
            keep = keep & mask[:, None, None, :]
        return keep

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        keep = self.mask_for(q.shape[2], mask, q.device)
        return flash_attention(q, k, v, causal=self.causal, mask=keep, backend="reference",
                               block_q=self.tile, block_k=self.tile)
