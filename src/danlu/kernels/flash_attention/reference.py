"""FlashAttention's algorithm in readable pure torch: tiled online softmax with its own backward.

Paper: "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness"
(Dao et al., arXiv:2205.14135) and "FlashAttention-2" (Dao, arXiv:2307.08691).

Forward, per query block ``Q_i`` (``block_q`` rows), sweeping key blocks ``K_j, V_j``::

    S_ij = Q_i K_j^T * scale                 (block_q, block_k)  -- the only score tile alive
    m_new = max(m, rowmax(S_ij))             running max
    P_ij = exp(S_ij - m_new)
    l = l * exp(m - m_new) + rowsum(P_ij)    running sum
    acc = acc * exp(m - m_new) + P_ij V_j
    O_i = acc / l,  LSE_i = m + log(l)       (LSE saved for the backward)

Backward (FlashAttention-2, Alg. 2): ``D = rowsum(dO * O)``; per tile recompute
``P = exp(S - LSE)``, then ``dV += P^T dO``, ``dS = P * (dO V^T - D)``, ``dQ += dS K * scale``,
``dK += dS^T Q * scale``. No (Nq, Nk) tensor is ever allocated, forward or backward.

Conventions (as torch.nn.functional.scaled_dot_product_attention):
    * ``causal=True`` masks key ``j > i + offset`` for query ``i``; ``causal_align="top_left"``
      (default, SDPA's ``is_causal``) is ``offset = 0``, ``"bottom_right"`` (FlashAttention-2 for
      ``Nq != Nk``: the last query sees every key) is ``offset = Nk - Nq`` (:data:`CAUSAL_ALIGNS`).
    * ``return_lse=True`` also returns the row log-sum-exp ``LSE_i = log Σ_j exp(S_ij)`` (natural log,
      fp32 or wider, (B, H, Nq)); it is differentiable: ``dS += P * dLSE`` in the backward.
    * ``mask`` (optional) is a bool keep-mask broadcastable to (B, H, Nq, Nk); it is sliced per tile,
      and tiles with no kept entry are skipped (block-sparse attention costs what its density costs).
    * Fully masked query rows (every key masked) output **zeros** with zero gradient, never NaN;
      their LSE is ``-inf``.
    * half/bfloat16 inputs accumulate in float32.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from danlu.errors import DanluError
from danlu.kernels._checks import check_qkv

DEFAULT_BLOCK_Q = 128
DEFAULT_BLOCK_K = 128

#: causal alignment name -> diagonal offset ``f(Nq, Nk)``: query i sees keys j <= i + offset.
CAUSAL_ALIGNS: dict[str, Callable[[int, int], int]] = {
    "top_left": lambda nq, nk: 0,
    "bottom_right": lambda nq, nk: nk - nq,
}


def causal_offset(causal_align: str, nq: int, nk: int, where: str = "flash_attention") -> int:
    """The diagonal offset of ``causal_align`` for (Nq, Nk); a clear error for an unknown name."""
    if causal_align not in CAUSAL_ALIGNS:
        raise DanluError(f"{where}: causal_align must be one of {sorted(CAUSAL_ALIGNS)}, got {causal_align!r}")
    return CAUSAL_ALIGNS[causal_align](nq, nk)


def _acc_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.promote_types(dtype, torch.float32)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """(B, Hkv, G, b, X) -> (B, Hkv, G*b, X): a query group's rows side by side against one K/V head."""
    return x.flatten(2, 3)


def _unrows(x: torch.Tensor, g: int) -> torch.Tensor:
    """(B, Hkv, G*b, X) -> (B, Hkv, G, b, X), the inverse view of :func:`_rows`."""
    return x.unflatten(2, (g, x.shape[2] // g))


def _tile_scores(qi: torch.Tensor, kj: torch.Tensor, scale: float, i0: int, j0: int, causal: bool,
                 mask: torch.Tensor | None, offset: int = 0) -> torch.Tensor:
    """Scores of one tile with causal / user masks applied as -inf.

    qi (B, Hkv, G, bq, D) and kj (B, Hkv, bk, D) -> (B, Hkv, G, bq, bk): the G query heads that share
    a K/V head are stacked as rows, so K is used as stored (never repeated)."""
    g = qi.shape[2]
    s = _unrows(torch.matmul(_rows(qi), kj.transpose(-1, -2)), g) * scale    # (B, Hkv, G, bq, bk)
    bq, bk = s.shape[-2], s.shape[-1]
    if causal and j0 + bk - 1 > i0 + offset:  # tile crosses the diagonal
        rows = torch.arange(i0 + offset, i0 + offset + bq, device=s.device)[:, None]
        cols = torch.arange(j0, j0 + bk, device=s.device)[None, :]
        s = s.masked_fill(cols > rows, float("-inf"))
    if mask is not None:
        s = s.masked_fill(~mask[..., i0:i0 + bq, j0:j0 + bk], float("-inf"))
    return s


def _key_end(causal: bool, i1: int, nk: int, offset: int = 0) -> int:
    """Exclusive end of the keys a query block ending at row ``i1`` can see."""
    return max(0, min(nk, i1 + offset)) if causal else nk


def _groups(q: torch.Tensor, k: torch.Tensor) -> tuple[int, int]:
    """(Hkv, G): K/V heads and query heads per K/V head (grouped-query attention; G = 1 for MHA)."""
    return k.shape[1], q.shape[1] // k.shape[1]


def flash_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool, scale: float,
                  mask: torch.Tensor | None = None, block_q: int = DEFAULT_BLOCK_Q,
                  block_k: int = DEFAULT_BLOCK_K, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiled forward. q (B, Hq, Nq, D), k (B, Hkv, Nk, D), v (B, Hkv, Nk, Dv) -> (o (B, Hq, Nq, Dv), lse (B, Hq, Nq)).

    Hkv divides Hq: query head ``h`` uses K/V head ``h // (Hq / Hkv)`` (grouped-query attention,
    Ainslie et al., arXiv:2305.13245; Hkv = 1 is multi-query attention). ``offset``: causal diagonal
    offset (query i sees keys j <= i + offset)."""
    b, h, nq, _ = q.shape
    nk, dv = k.shape[2], v.shape[-1]
    hkv, g = _groups(q, k)
    acc_t = _acc_dtype(q.dtype)
    if mask is not None:
        mask = mask.expand(b, h, nq, nk).unflatten(1, (hkv, g))  # views: no copy
    q5 = q.unflatten(1, (hkv, g))                                                  # (B, Hkv, G, Nq, D) view
    out = torch.empty(b, h, nq, dv, dtype=q.dtype, device=q.device)
    lse = torch.empty(b, h, nq, dtype=acc_t, device=q.device)
    out5, lse5 = out.unflatten(1, (hkv, g)), lse.unflatten(1, (hkv, g))
    for i0 in range(0, nq, block_q):
        i1 = min(i0 + block_q, nq)
        qi = q5[..., i0:i1, :].to(acc_t)                                          # (B, Hkv, G, bq, D)
        m = torch.full((b, hkv, g, i1 - i0, 1), float("-inf"), dtype=acc_t, device=q.device)
        l = torch.zeros(b, hkv, g, i1 - i0, 1, dtype=acc_t, device=q.device)
        acc = torch.zeros(b, hkv, g, i1 - i0, dv, dtype=acc_t, device=q.device)  # (B, Hkv, G, bq, Dv)
        for j0 in range(0, _key_end(causal, i1, nk, offset), block_k):
            j1 = min(j0 + block_k, nk)
            if mask is not None and not mask[..., i0:i1, j0:j1].any():
                continue                                                           # empty tile: sparse saving
            s = _tile_scores(qi, k[:, :, j0:j1].to(acc_t), scale, i0, j0, causal, mask, offset)
            m_new = torch.maximum(m, s.amax(-1, keepdim=True))
            m_safe = torch.where(torch.isinf(m_new), torch.zeros_like(m_new), m_new)  # rows with no key yet
            p = torch.exp(s - m_safe)                                              # (B, Hkv, G, bq, bk)
            alpha = torch.exp(m - m_safe)
            l = l * alpha + p.sum(-1, keepdim=True)
            acc = acc * alpha + _unrows(torch.matmul(_rows(p), v[:, :, j0:j1].to(acc_t)), g)
            m = m_new
        empty = l == 0                                                             # fully masked rows
        out5[..., i0:i1, :] = torch.where(empty, torch.zeros_like(acc), acc / torch.where(empty, 1.0, l)).to(q.dtype)
        lse5[..., i0:i1] = torch.where(empty, float("-inf"), m + torch.log(torch.where(empty, 1.0, l)))[..., 0]
    return out, lse


def flash_backward(do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor,
                   lse: torch.Tensor, causal: bool, scale: float, mask: torch.Tensor | None = None,
                   block_q: int = DEFAULT_BLOCK_Q, block_k: int = DEFAULT_BLOCK_K, offset: int = 0,
                   dlse: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Tiled backward recomputing each probability tile from the saved LSE -> (dq, dk, dv).

    Grouped-query heads as in :func:`flash_forward`: dK and dV of a K/V head sum over its G query
    heads inside one matmul. ``dlse`` (B, Hq, Nq): gradient of the returned LSE, if any
    (``dS = P * (dP - D + dLSE)``)."""
    b, h, nq, _ = q.shape
    nk = k.shape[2]
    hkv, g = _groups(q, k)
    acc_t = _acc_dtype(q.dtype)
    if mask is not None:
        mask = mask.expand(b, h, nq, nk).unflatten(1, (hkv, g))
    do_a = do.to(acc_t)
    delta = (do_a * o.to(acc_t)).sum(-1, keepdim=True)                             # (B, Hq, Nq, 1)
    if dlse is not None:
        delta = delta - dlse.to(acc_t)[..., None]                                  # dLSE_i/dS_ij = P_ij
    lse_safe = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)[..., None]  # (B, Hq, Nq, 1)
    q5, do5 = q.unflatten(1, (hkv, g)), do_a.unflatten(1, (hkv, g))              # (B, Hkv, G, Nq, *) views
    delta5, lse5 = delta.unflatten(1, (hkv, g)), lse_safe.unflatten(1, (hkv, g))
    dq = torch.zeros(q.shape, dtype=acc_t, device=q.device)
    dq5 = dq.unflatten(1, (hkv, g))
    dk = torch.zeros(k.shape, dtype=acc_t, device=q.device)
    dv = torch.zeros(v.shape, dtype=acc_t, device=q.device)
    for j0 in range(0, nk, block_k):
        j1 = min(j0 + block_k, nk)
        kj, vj = k[:, :, j0:j1].to(acc_t), v[:, :, j0:j1].to(acc_t)               # (B, Hkv, bk, D)
        first_q = max(0, ((j0 - offset) // block_q) * block_q) if causal else 0    # earlier blocks see nothing
        for i0 in range(first_q, nq, block_q):
            i1 = min(i0 + block_q, nq)
            if mask is not None and not mask[..., i0:i1, j0:j1].any():
                continue
            qi = q5[..., i0:i1, :].to(acc_t)                                      # (B, Hkv, G, bq, D)
            s = _tile_scores(qi, kj, scale, i0, j0, causal, mask, offset)           # (B, Hkv, G, bq, bk)
            p = _rows(torch.exp(s - lse5[..., i0:i1, :]))                           # (B, Hkv, G*bq, bk)
            doi = _rows(do5[..., i0:i1, :])                                         # (B, Hkv, G*bq, Dv)
            dv[:, :, j0:j1] += torch.matmul(p.transpose(-1, -2), doi)
            dp = torch.matmul(doi, vj.transpose(-1, -2))                            # (B, Hkv, G*bq, bk)
            ds = p * (dp - _rows(delta5[..., i0:i1, :]))
            dq5[..., i0:i1, :] += _unrows(torch.matmul(ds, kj), g) * scale
            dk[:, :, j0:j1] += torch.matmul(ds.transpose(-1, -2), _rows(qi)) * scale
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


class FlashAttentionFunction(torch.autograd.Function):
    """autograd.Function whose backward recomputes tiles from the saved LSE (no (Nq, Nk) tensor saved)."""

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, scale: float, mask, block_q: int, block_k: int,  # type: ignore[override]
                offset: int = 0):
        o, lse = flash_forward(q, k, v, causal, scale, mask, block_q, block_k, offset)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.mask = mask
        ctx.args = (causal, scale, block_q, block_k, offset)
        return o, lse

    @staticmethod
    def backward(ctx, do, dlse):  # type: ignore[override]
        q, k, v, o, lse = ctx.saved_tensors
        causal, scale, block_q, block_k, offset = ctx.args
        dq, dk, dv = flash_backward(do, q, k, v, o, lse, causal, scale, ctx.mask, block_q, block_k, offset, dlse)
        return dq, dk, dv, None, None, None, None, None, None


def flash_attention_reference(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                              scale: float | None = None, mask: torch.Tensor | None = None,
                              block_q: int = DEFAULT_BLOCK_Q, block_k: int = DEFAULT_BLOCK_K, *,
                              return_lse: bool = False, causal_align: str = "top_left",
                              ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Exact softmax attention by tiles: q (B, H, Nq, D), k (B, Hkv, Nk, D), v (B, Hkv, Nk, Dv) -> (B, H, Nq, Dv).

    ``Hkv`` divides H (grouped-query attention; see :func:`flash_forward`), K/V never repeated.

    Equal to ``torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)``
    (up to rounding) while holding at most one (block_q, block_k) score tile. ``scale`` defaults to
    ``D ** -0.5``. Fully masked rows give zeros (SDPA's math path gives NaN there). With
    ``return_lse`` returns ``(o, lse)``, lse (B, H, Nq) natural log, ``-inf`` on fully masked rows.
    ``causal_align``: a name in :data:`CAUSAL_ALIGNS` (matters only when ``causal`` and Nq != Nk).
    """
    check_qkv(q, k, v, where="flash_attention_reference", allow_gqa=True)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    offset = causal_offset(causal_align, q.shape[2], k.shape[2]) if causal else 0
    o, lse = FlashAttentionFunction.apply(q, k, v, bool(causal), float(scale), mask, int(block_q), int(block_k),
                                          offset)
    return (o, lse) if return_lse else o


def softmax_attention_naive(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                            scale: float | None = None, mask: torch.Tensor | None = None, *,
                            return_lse: bool = False, causal_align: str = "top_left",
                            ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """The textbook O(Nq·Nk)-memory form ``softmax(QK^T * scale + mask) V`` (the baseline flash is measured against).

    Fully masked rows give zeros, as in :func:`flash_attention_reference`; ``return_lse`` adds
    ``torch.logsumexp`` of the masked scores (B, H, Nq); ``causal_align`` as there.
    """
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if k.shape[1] != q.shape[1]:  # grouped-query: the textbook form repeats each K/V head G times
        g = q.shape[1] // k.shape[1]
        k, v = k.repeat_interleave(g, dim=1), v.repeat_interleave(g, dim=1)
    s = torch.matmul(q, k.transpose(-1, -2)) * scale                             # (B, H, Nq, Nk)
    keep = torch.ones(s.shape[-2:], dtype=torch.bool, device=q.device)
    if causal:
        keep = torch.tril(keep, diagonal=causal_offset(causal_align, q.shape[2], k.shape[2]))
    if mask is not None:
        keep = keep & mask
    s = s.masked_fill(~keep, float("-inf"))
    p = torch.softmax(s, dim=-1).nan_to_num(0.0)                                  # fully masked rows -> 0
    o = torch.matmul(p, v)
    return (o, torch.logsumexp(s, dim=-1)) if return_lse else o
