"""``flash_attention``: exact softmax attention without the (Nq, Nk) matrix, dispatched by backend.

Backends (registry :data:`FLASH_BACKENDS`):

* ``"reference"``: :func:`~danlu.kernels.flash_attention.reference.flash_attention_reference`,
  pure torch tiled online softmax with its own backward; runs everywhere.
* ``"triton"``: ``danlu.kernels.flash_attention.triton.flash_attention_triton`` (CUDA only).
* ``"sdpa"``: ``torch.nn.functional.scaled_dot_product_attention`` (torch picks its fused kernel);
  same semantics, except that a fully masked query row gives NaN there, so "auto" never sends one.
* ``"auto"``: triton when ``q.is_cuda``, triton imports, ``triton_supports(q, k, v, causal)`` is
  true and no ``mask`` is given; otherwise SDPA (the fastest exact path on CPU: 2.8x the tiled
  reference at (1, 8, 8192, 64) causal fp32) unless a ``mask`` leaves some query row with no key or
  reference-only ``backend_kwargs`` (``block_q``, ``block_k``) are given, or ``return_lse=True``
  (SDPA does not return it); then the reference. ``causal_align="bottom_right"`` with ``causal`` and
  ``Nq != Nk`` takes Triton on CUDA when Nq < Nk, else the reference (SDPA's ``is_causal`` is
  top-left and would give NaN rows for Nq > Nk).
  Note: ``torch.utils.flop_counter.FlopCounterMode`` does not count torch's fused CPU SDPA; to count
  attention FLOPs on CPU pass ``backend="reference"`` (the att-mha card does).

Grouped-query / multi-query attention (k, v with Hkv heads, Hkv dividing H): reference (no K/V
copies), naive (repeats K/V: the textbook form), sdpa (``enable_gqa``), triton (K/V read as stored,
dK/dV summed over each group in-kernel).

Fully masked query rows (a ``mask``, or bottom-right causal with Nq > Nk) produce zeros, never NaN.
``return_lse=True`` returns ``(o, lse)`` with the differentiable row log-sum-exp (natural log):
reference, naive and Triton backends (SDPA refuses it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from danlu.errors import DanluError
from danlu.kernels._checks import check_mask, check_qkv
from danlu.kernels.flash_attention.reference import (
    CAUSAL_ALIGNS,
    causal_offset,
    flash_attention_reference,
    softmax_attention_naive,
)
from danlu.registry import Registry

Output = torch.Tensor | tuple[torch.Tensor, torch.Tensor]
FLASH_BACKENDS: Registry[Callable[..., Output]] = Registry("flash_attention backend")


def _load_triton() -> tuple[Callable[..., torch.Tensor], Callable[..., bool]] | None:
    """The triton entry points, or None when the module or triton itself cannot be imported."""
    try:
        from danlu.kernels.flash_attention.triton import flash_attention_triton, triton_supports
    except ImportError:
        return None
    return flash_attention_triton, triton_supports


@FLASH_BACKENDS.register("reference")
def _reference(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, *, return_lse: bool = False,
               causal_align: str = "top_left", **kw: Any) -> Output:
    return flash_attention_reference(q, k, v, causal=causal, scale=scale, mask=mask, return_lse=return_lse,
                                     causal_align=causal_align, **kw)


@FLASH_BACKENDS.register("triton")
def _triton(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, *, return_lse: bool = False,
            causal_align: str = "top_left", **kw: Any) -> torch.Tensor:
    loaded = _load_triton()
    if loaded is None:
        raise DanluError("flash_attention: backend 'triton' is unavailable (danlu.kernels.flash_attention.triton "
                         "or triton failed to import); use backend='reference' or 'auto'")
    if not q.is_cuda:
        raise DanluError(f"flash_attention: backend 'triton' needs CUDA tensors, got q on {q.device}")
    if mask is not None:
        raise DanluError("flash_attention: backend 'triton' takes no mask; use backend='reference' for masks")
    fn, _ = loaded
    return fn(q, k, v, causal, scale, return_lse=return_lse, causal_align=causal_align)


@FLASH_BACKENDS.register("naive")
def _naive(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, *, return_lse: bool = False,
           causal_align: str = "top_left", **kw: Any) -> Output:
    return softmax_attention_naive(q, k, v, causal=causal, scale=scale, mask=mask, return_lse=return_lse,
                                   causal_align=causal_align)


@FLASH_BACKENDS.register("sdpa")
def _sdpa(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, *, return_lse: bool = False,
          causal_align: str = "top_left", **kw: Any) -> torch.Tensor:
    if kw:
        raise DanluError(f"flash_attention: backend 'sdpa' takes no extra arguments, got {sorted(kw)}")
    if return_lse:
        raise DanluError("flash_attention: backend 'sdpa' cannot return the LSE; use backend='reference'")
    offset = causal_offset(causal_align, q.shape[2], k.shape[2]) if causal else 0
    if offset != 0:  # SDPA's is_causal is top-left: pass the shifted causal mask instead (NaN on dead rows)
        keep = torch.ones(q.shape[2], k.shape[2], dtype=torch.bool, device=q.device).tril(offset)
        mask, causal = (keep if mask is None else keep & mask), False
    gqa = {"enable_gqa": True} if q.shape[1] != k.shape[1] else {}
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                                            scale=scale, **gqa)


def _has_dead_rows(mask: torch.Tensor) -> bool:
    """Whether some query row of the broadcast keep-mask attends to no key (SDPA gives NaN there)."""
    return bool((~mask.any(dim=-1)).any())


def _auto_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
                  mask: torch.Tensor | None, backend_kwargs: dict[str, Any], *, return_lse: bool = False,
                  causal_align: str = "top_left") -> str:
    """The backend "auto" picks (see the module docstring); tested in tests/kernels/test_flash_auto.py
    and tests/kernels/test_flash_features.py."""
    if q.is_cuda and mask is None and not backend_kwargs:
        loaded = _load_triton()
        if loaded is not None and loaded[1](q, k, v, causal, causal_align):
            return "triton"
    if causal and causal_offset(causal_align, q.shape[2], k.shape[2]) != 0:
        return "reference"
    if backend_kwargs or return_lse:
        return "reference"
    if mask is not None and (causal or _has_dead_rows(mask)):
        return "reference"  # SDPA takes a mask or is_causal, not both; dead rows must give zeros
    return "sdpa"


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    scale: float | None = None, backend: str = "auto", *, mask: torch.Tensor | None = None,
                    return_lse: bool = False, causal_align: str = "top_left",
                    **backend_kwargs: Any) -> Output:
    """Exact softmax attention, FlashAttention style (arXiv:2205.14135, 2307.08691).

    Args:
        q: (B, H, Nq, D) queries.
        k: (B, Hkv, Nk, D) keys; ``Hkv`` divides H (grouped-query attention, arXiv:2305.13245;
            Hkv = 1: multi-query). Query head h uses K/V head ``h // (H / Hkv)``; the reference and
            Triton backends read K/V as stored (no repeat).
        v: (B, Hkv, Nk, Dv) values.
        causal: mask key j > query i + offset (``causal_align`` sets the offset).
        scale: score scale; ``None`` means ``D ** -0.5``.
        backend: ``"auto"``, ``"reference"``, ``"triton"``, ``"sdpa"`` or ``"naive"`` (the O(N²) textbook form).
        mask: optional bool keep-mask broadcastable to (B, H, Nq, Nk) (True = attend).
        return_lse: also return the row log-sum-exp of the scaled, masked scores (B, H, Nq), natural
            log, ``-inf`` on rows with no key; differentiable (reference, naive, triton backends).
        causal_align: ``"top_left"`` (SDPA: query i sees keys j <= i) or ``"bottom_right"``
            (FlashAttention-2: j <= i + Nk - Nq, the last query sees every key); only matters when
            ``causal`` and Nq != Nk.
        backend_kwargs: passed to the backend (e.g. ``block_q``, ``block_k`` for the reference).

    Returns:
        (B, H, Nq, Dv) attention output, or ``(o, lse)`` with ``return_lse``; rows with every key
        masked are zeros.

    Raises:
        DanluError: mismatched shapes/dtypes/devices (naming both shapes), a bad mask, an unknown
            or unavailable backend.
    """
    check_qkv(q, k, v, where="flash_attention", allow_gqa=True)
    check_mask(mask, q, k, where="flash_attention")
    causal_offset(causal_align, q.shape[2], k.shape[2])  # validates the name for every backend
    if scale is None:
        scale = q.shape[-1] ** -0.5
    name = (_auto_backend(q, k, v, causal, mask, backend_kwargs, return_lse=return_lse, causal_align=causal_align)
            if backend == "auto" else backend)
    return FLASH_BACKENDS.get(name)(q, k, v, bool(causal), float(scale), mask, return_lse=bool(return_lse),
                                    causal_align=causal_align, **backend_kwargs)


__all__ = ["CAUSAL_ALIGNS", "FLASH_BACKENDS", "flash_attention", "flash_attention_reference", "softmax_attention_naive"]
