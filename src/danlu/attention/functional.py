"""Scoring functions and masked softmax (d2l's chapter on attention scoring, done as torch functions).

* :func:`masked_softmax`: softmax over the last axis keeping only the first ``valid_lens`` entries;
  rows with no valid entry give all-zero weights (not NaN).
* :func:`additive_scores`: Bahdanau's ``w_v^T tanh(W_q q + W_k k)`` (arXiv:1409.0473).
* :func:`scaled_dot_product_scores`: ``q k^T / sqrt(d)`` (Vaswani et al., arXiv:1706.03762).
"""

from __future__ import annotations

import torch

from danlu.errors import DanluError


def sequence_mask(valid_lens: torch.Tensor, n: int) -> torch.Tensor:
    """valid_lens (...,) -> bool (..., n) with True for positions < valid_len."""
    return torch.arange(n, device=valid_lens.device) < valid_lens[..., None]


def masked_softmax(scores: torch.Tensor, valid_lens: torch.Tensor | None = None,
                   mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over the last axis of ``scores`` (..., Nq, Nk) with masked keys given weight exactly 0.

    Args:
        scores: (..., Nq, Nk).
        valid_lens: (...,) per batch row or (..., Nq) per query: keys at index >= valid_len are masked.
        mask: bool keep-mask broadcastable to scores (True = keep).

    Returns:
        weights (..., Nq, Nk); a row with no kept key is all zeros.
    """
    keep = torch.ones_like(scores, dtype=torch.bool)
    if valid_lens is not None:
        if tuple(valid_lens.shape) == tuple(scores.shape[:-2]):
            valid_lens = valid_lens[..., None].expand(*scores.shape[:-1])
        if tuple(valid_lens.shape) != tuple(scores.shape[:-1]):
            raise DanluError(f"masked_softmax: valid_lens of shape {tuple(valid_lens.shape)} does not match "
                             f"scores {tuple(scores.shape)}; expected {tuple(scores.shape[:-2])} or "
                             f"{tuple(scores.shape[:-1])}")
        keep = keep & sequence_mask(valid_lens, scores.shape[-1])
    if mask is not None:
        keep = keep & mask
    w = torch.softmax(scores.masked_fill(~keep, float("-inf")), dim=-1)
    return torch.where(keep.any(-1, keepdim=True), w, torch.zeros_like(w))


def scaled_dot_product_scores(q: torch.Tensor, k: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """q (..., Nq, D), k (..., Nk, D) -> (..., Nq, Nk) scores ``q k^T * scale`` (default D^-1/2)."""
    if q.shape[-1] != k.shape[-1]:
        raise DanluError(f"scaled_dot_product_scores: q {tuple(q.shape)} and k {tuple(k.shape)} differ in D")
    return torch.matmul(q, k.transpose(-1, -2)) * (q.shape[-1] ** -0.5 if scale is None else scale)


def additive_scores(q: torch.Tensor, k: torch.Tensor, w_q: torch.Tensor, w_k: torch.Tensor,
                    w_v: torch.Tensor) -> torch.Tensor:
    """Bahdanau scores ``w_v · tanh(q W_q^T + k W_k^T)``: q (..., Nq, Dq), k (..., Nk, Dk) -> (..., Nq, Nk).

    ``w_q`` (Hd, Dq), ``w_k`` (Hd, Dk), ``w_v`` (Hd,). Memory O(Nq·Nk·Hd): meant for short sequences.
    """
    if w_q.shape[-1] != q.shape[-1] or w_k.shape[-1] != k.shape[-1]:
        raise DanluError(f"additive_scores: q {tuple(q.shape)} / k {tuple(k.shape)} do not match "
                         f"w_q {tuple(w_q.shape)} / w_k {tuple(w_k.shape)}")
    feat = torch.tanh((q @ w_q.T)[..., :, None, :] + (k @ w_k.T)[..., None, :, :])  # (..., Nq, Nk, Hd)
    return feat @ w_v                                                                  # (..., Nq, Nk)
