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
  reference-only ``backend_kwargs`` (``block_q``, ``block_k``) are given; then the reference.
  Note: ``torch.utils.flop_counter.FlopCounterMode`` does not count torch's fused CPU SDPA; to count
  attention FLOPs on CPU pass ``backend="reference"`` (the att-mha card does).

Fully masked query rows (possible only with ``mask``) produce zeros, never NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from danlu.errors import DanluError
from danlu.kernels._checks import check_mask, check_qkv
from danlu.kernels.flash_attention.reference import flash_attention_reference, softmax_attention_naive
from danlu.registry import Registry

FLASH_BACKENDS: Registry[Callable[..., torch.Tensor]] = Registry("flash_attention backend")


def _load_triton() -> tuple[Callable[..., torch.Tensor], Callable[..., bool]] | None:
    """The triton entry points, or None when the module or triton itself cannot be imported."""
    try:
        from danlu.kernels.flash_attention.triton import flash_attention_triton, triton_supports
    except ImportError:
        return None
    return flash_attention_triton, triton_supports


@FLASH_BACKENDS.register("reference")
def _reference(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, **kw: Any) -> torch.Tensor:
    return flash_attention_reference(q, k, v, causal=causal, scale=scale, mask=mask, **kw)


@FLASH_BACKENDS.register("triton")
def _triton(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, **kw: Any) -> torch.Tensor:
    loaded = _load_triton()
    if loaded is None:
        raise DanluError("flash_attention: backend 'triton' is unavailable (danlu.kernels.flash_attention.triton "
                         "or triton failed to import); use backend='reference' or 'auto'")
    if not q.is_cuda:
        raise DanluError(f"flash_attention: backend 'triton' needs CUDA tensors, got q on {q.device}")
    if mask is not None:
        raise DanluError("flash_attention: backend 'triton' takes no mask; use backend='reference' for masks")
    fn, _ = loaded
    return fn(q, k, v, causal, scale)


@FLASH_BACKENDS.register("naive")
def _naive(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, **kw: Any) -> torch.Tensor:
    return softmax_attention_naive(q, k, v, causal=causal, scale=scale, mask=mask)


@FLASH_BACKENDS.register("sdpa")
def _sdpa(q, k, v, causal: bool, scale: float, mask: torch.Tensor | None, **kw: Any) -> torch.Tensor:
    if kw:
        raise DanluError(f"flash_attention: backend 'sdpa' takes no extra arguments, got {sorted(kw)}")
    return torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                                            scale=scale)


def _has_dead_rows(mask: torch.Tensor) -> bool:
    """Whether some query row of the broadcast keep-mask attends to no key (SDPA gives NaN there)."""
    return bool((~mask.any(dim=-1)).any())


def _auto_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
                  mask: torch.Tensor | None, backend_kwargs: dict[str, Any]) -> str:
    """The backend "auto" picks (see the module docstring); tested in tests/kernels/test_flash_auto.py."""
    if q.is_cuda and mask is None and not backend_kwargs:
        loaded = _load_triton()
        if loaded is not None and loaded[1](q, k, v, causal):
            return "triton"
    if backend_kwargs:
        return "reference"
    if mask is not None and (causal or _has_dead_rows(mask)):
        return "reference"  # SDPA takes a mask or is_causal, not both; dead rows must give zeros
    return "sdpa"


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    scale: float | None = None, backend: str = "auto", *, mask: torch.Tensor | None = None,
                    **backend_kwargs: Any) -> torch.Tensor:
    """Exact softmax attention, FlashAttention style (arXiv:2205.14135, 2307.08691).

    Args:
        q: (B, H, Nq, D) queries.
        k: (B, H, Nk, D) keys.
        v: (B, H, Nk, Dv) values.
        causal: mask key j > query i (top-left aligned, as SDPA's ``is_causal``).
        scale: score scale; ``None`` means ``D ** -0.5``.
        backend: ``"auto"``, ``"reference"``, ``"triton"``, ``"sdpa"`` or ``"naive"`` (the O(N²) textbook form).
        mask: optional bool keep-mask broadcastable to (B, H, Nq, Nk) (True = attend).
        backend_kwargs: passed to the backend (e.g. ``block_q``, ``block_k`` for the reference).

    Returns:
        (B, H, Nq, Dv) attention output; rows with every key masked are zeros.

    Raises:
        DanluError: mismatched shapes/dtypes/devices (naming both shapes), a bad mask, an unknown
            or unavailable backend.
    """
    check_qkv(q, k, v, where="flash_attention")
    check_mask(mask, q, k, where="flash_attention")
    if scale is None:
        scale = q.shape[-1] ** -0.5
    name = _auto_backend(q, k, v, causal, mask, backend_kwargs) if backend == "auto" else backend
    return FLASH_BACKENDS.get(name)(q, k, v, bool(causal), float(scale), mask, **backend_kwargs)


__all__ = ["FLASH_BACKENDS", "flash_attention", "flash_attention_reference", "softmax_attention_naive"]
