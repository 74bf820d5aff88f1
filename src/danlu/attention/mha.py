"""Multi-head attention with torch.nn.MultiheadAttention's interface and weights, on danlu's kernels.

Paper: "Attention Is All You Need" (Vaswani et al., arXiv:1706.03762).

:class:`MultiHeadAttention` has the same parameter names (``in_proj_weight``, ``in_proj_bias``,
``out_proj``; or ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ), so
``mine.load_state_dict(torch_mha.state_dict())`` works and the outputs match. Masks follow torch's
conventions: ``key_padding_mask`` (B, Nk) and a bool ``attn_mask`` (Nq, Nk) or (B·H, Nq, Nk) mark
positions to **ignore** with True; a float ``attn_mask`` is added to the scores.

Difference from torch, by decision: a query whose keys are all masked outputs zeros (torch gives NaN).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from danlu.errors import DanluError
from danlu.kernels import flash_attention


class MultiHeadAttention(nn.Module):
    """Drop-in for ``torch.nn.MultiheadAttention`` (``batch_first`` supported) computed by flash_attention.

    Args:
        embed_dim: model width E.
        num_heads: H (E must be divisible by H).
        dropout: dropout on the attention output (torch drops attention weights; equal at dropout=0).
        bias: biases on the projections.
        kdim, vdim: key / value input widths (default E).
        batch_first: inputs (B, N, E) instead of (N, B, E).
        backend: flash_attention backend.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 kdim: int | None = None, vdim: int | None = None, batch_first: bool = False,
                 backend: str = "auto", device=None, dtype=None) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise DanluError(f"MultiHeadAttention: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
        fk = {"device": device, "dtype": dtype}
        self.embed_dim, self.num_heads, self.head_dim = embed_dim, num_heads, embed_dim // num_heads
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.same_dims = self.kdim == embed_dim and self.vdim == embed_dim
        self.batch_first, self.dropout, self.backend = batch_first, dropout, backend
        if self.same_dims:
            self.in_proj_weight = nn.Parameter(torch.empty(3 * embed_dim, embed_dim, **fk))
            nn.init.xavier_uniform_(self.in_proj_weight)
        else:
            self.q_proj_weight = nn.Parameter(torch.empty(embed_dim, embed_dim, **fk))
            self.k_proj_weight = nn.Parameter(torch.empty(embed_dim, self.kdim, **fk))
            self.v_proj_weight = nn.Parameter(torch.empty(embed_dim, self.vdim, **fk))
            for w in (self.q_proj_weight, self.k_proj_weight, self.v_proj_weight):
                nn.init.xavier_uniform_(w)
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * embed_dim, **fk)) if bias else None
        self.out_proj = nn.Linear(embed_dim, embed_dim, bias=bias, **fk)

    def _weights(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.same_dims:
            return self.in_proj_weight.chunk(3)
        return self.q_proj_weight, self.k_proj_weight, self.v_proj_weight

    def _check(self, query, key, value, key_padding_mask, attn_mask) -> None:
        for name, t, d in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.dim() != 3 or t.shape[-1] != d:
                raise DanluError(f"MultiHeadAttention: {name} of shape {tuple(t.shape)} does not match "
                                 f"the module: expected 3-D with last dim {d}")
        if key.shape[:2] != value.shape[:2]:
            raise DanluError(f"MultiHeadAttention: key {tuple(key.shape)} and value {tuple(value.shape)} must "
                             f"share (batch, tokens)")
        b_axis = 0 if self.batch_first else 1
        if query.shape[b_axis] != key.shape[b_axis]:
            raise DanluError(f"MultiHeadAttention: query {tuple(query.shape)} and key {tuple(key.shape)} have "
                             f"different batch sizes")
        b, nq, nk = query.shape[b_axis], query.shape[1 - b_axis], key.shape[1 - b_axis]
        if key_padding_mask is not None and tuple(key_padding_mask.shape) != (b, nk):
            raise DanluError(f"MultiHeadAttention: key_padding_mask of shape {tuple(key_padding_mask.shape)} "
                             f"does not match (B, Nk) = {(b, nk)} of key {tuple(key.shape)}")
        if attn_mask is not None and tuple(attn_mask.shape) not in ((nq, nk), (b * self.num_heads, nq, nk)):
            raise DanluError(f"MultiHeadAttention: attn_mask of shape {tuple(attn_mask.shape)} does not match "
                             f"(Nq, Nk) = {(nq, nk)} or (B*H, Nq, Nk) = {(b * self.num_heads, nq, nk)}")

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = False,
                attn_mask: torch.Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns ``(out, weights)`` like torch: out (B, Nq, E) if batch_first else (Nq, B, E);
        weights (B, Nq, Nk) averaged over heads (or (B, H, Nq, Nk)) when ``need_weights``, else None."""
        self._check(query, key, value, key_padding_mask, attn_mask)
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))  # (B, N, E)
        b, nq, _ = query.shape
        nk = key.shape[1]
        wq, wk, wv = self._weights()
        bq, bk, bv = self.in_proj_bias.chunk(3) if self.in_proj_bias is not None else (None, None, None)
        heads = lambda x, n: x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)  # noqa: E731
        q = heads(F.linear(query, wq, bq), nq)                                   # (B, H, Nq, Dh)
        k = heads(F.linear(key, wk, bk), nk)                                     # (B, H, Nk, Dh)
        v = heads(F.linear(value, wv, bv), nk)
        keep, bias = self._masks(b, nq, nk, key_padding_mask, attn_mask, q.device)
        if need_weights or bias is not None:
            s = torch.matmul(q, k.transpose(-1, -2)) * self.head_dim ** -0.5     # (B, H, Nq, Nk)
            if bias is not None:
                s = s + bias
            if is_causal:
                keep = torch.tril(torch.ones(nq, nk, dtype=torch.bool, device=q.device)) & (
                    True if keep is None else keep)
            if keep is not None:
                s = s.masked_fill(~keep, float("-inf"))
            w = torch.softmax(s, -1).nan_to_num(0.0)                              # dead rows -> 0
            o = torch.matmul(w, v)
        else:
            w = None
            o = flash_attention(q, k, v, causal=is_causal, backend=self.backend, mask=keep)
        o = F.dropout(o, self.dropout, self.training)
        out = self.out_proj(o.transpose(1, 2).reshape(b, nq, self.embed_dim))   # (B, Nq, E)
        if not self.batch_first:
            out = out.transpose(0, 1)
        if w is not None and average_attn_weights:
            w = w.mean(1)
        return out, w

    def _masks(self, b: int, nq: int, nk: int, key_padding_mask, attn_mask, device):
        """Torch-convention masks -> (keep (B|1, H|1, Nq, Nk) bool or None, additive bias or None)."""
        keep, bias = None, None
        if key_padding_mask is not None:
            if key_padding_mask.dtype == torch.bool:
                keep = ~key_padding_mask[:, None, None, :]
            else:
                bias = key_padding_mask[:, None, None, :].to(torch.get_default_dtype())
        if attn_mask is not None:
            am = attn_mask if attn_mask.dim() == 2 else attn_mask.view(b, self.num_heads, nq, nk)
            if am.dtype == torch.bool:
                keep = ~am if keep is None else keep & ~am
            else:
                bias = am if bias is None else bias + am
        return keep, bias
