"""``linear_attention``: φ(Q)(φ(K)^T V) attention in O(N), dispatched by backend.

Backends (registry :data:`LINEAR_BACKENDS`), all equal to the explicit quadratic form with the
same φ (see :mod:`.reference`):

* ``"quadratic"``: the O(N²) reference; ``"parallel"``: non-causal O(N); ``"recurrent"``: causal,
  token by token; ``"chunked"``: causal, intra-chunk quadratic + inter-chunk state;
* ``"triton"``: ``danlu.kernels.linear_attention.triton.linear_attention_triton`` (CUDA, causal);
* ``"auto"``: triton on CUDA when ``triton_supports(...)`` is true and causal; otherwise chunked
  (causal) or parallel (non-causal).

The feature map is applied here, before the backend. The streaming state is
:class:`~danlu.kernels.linear_attention.reference.LinearAttentionState` (kv (B, H, Dk, Dv),
k_sum (B, H, Dk)). Rows with a zero normalizer output zeros, never NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from danlu.errors import DanluError
from danlu.kernels._checks import check_qkv
from danlu.kernels.linear_attention.feature_maps import (
    FEATURE_MAPS,
    FeatureMap,
    PerformerFeatureMap,
    make_feature_map,
)
from danlu.kernels.linear_attention.reference import (
    LinearAttentionState,
    chunked_linear_attention,
    parallel_linear_attention,
    quadratic_linear_attention,
    recurrent_linear_attention,
)
from danlu.registry import Registry

Result = tuple[torch.Tensor, LinearAttentionState | None]
LINEAR_BACKENDS: Registry[Callable[..., Result]] = Registry("linear_attention backend")


def _load_triton() -> tuple[Callable[..., Result], Callable[..., bool]] | None:
    try:
        from danlu.kernels.linear_attention.triton import linear_attention_triton, triton_supports
    except ImportError:
        return None
    return linear_attention_triton, triton_supports


def _need_causal(name: str, causal: bool, want: bool) -> None:
    if causal != want:
        kind = "causal" if want else "non-causal"
        raise DanluError(f"linear_attention: backend {name!r} is {kind} only, got causal={causal}")


@LINEAR_BACKENDS.register("quadratic")
def _quadratic(q, k, v, causal, normalize, chunk_size, initial_state) -> Result:
    return quadratic_linear_attention(q, k, v, causal=causal, normalize=normalize, initial_state=initial_state)


@LINEAR_BACKENDS.register("parallel")
def _parallel(q, k, v, causal, normalize, chunk_size, initial_state) -> Result:
    _need_causal("parallel", causal, False)
    return parallel_linear_attention(q, k, v, normalize=normalize, initial_state=initial_state)


@LINEAR_BACKENDS.register("recurrent")
def _recurrent(q, k, v, causal, normalize, chunk_size, initial_state) -> Result:
    _need_causal("recurrent", causal, True)
    return recurrent_linear_attention(q, k, v, normalize=normalize, initial_state=initial_state)


@LINEAR_BACKENDS.register("chunked")
def _chunked(q, k, v, causal, normalize, chunk_size, initial_state) -> Result:
    if not causal:  # without a mask every chunk sees the whole state: the parallel form
        return parallel_linear_attention(q, k, v, normalize=normalize, initial_state=initial_state)
    return chunked_linear_attention(q, k, v, normalize=normalize, chunk_size=chunk_size,
                                    initial_state=initial_state)


@LINEAR_BACKENDS.register("triton")
def _triton(q, k, v, causal, normalize, chunk_size, initial_state) -> Result:
    loaded = _load_triton()
    if loaded is None:
        raise DanluError("linear_attention: backend 'triton' is unavailable (danlu.kernels.linear_attention.triton "
                         "or triton failed to import); use backend='chunked' or 'auto'")
    if not q.is_cuda:
        raise DanluError(f"linear_attention: backend 'triton' needs CUDA tensors, got q on {q.device}")
    _need_causal("triton", causal, True)
    fn, _ = loaded
    return fn(q, k, v, normalize=normalize, chunk_size=chunk_size, initial_state=initial_state,
              output_final_state=True)


def _auto_backend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> str:
    if q.is_cuda and causal:
        loaded = _load_triton()
        if loaded is not None and loaded[1](q, k, v, causal):
            return "triton"
    return "chunked" if causal else "parallel"


def linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                     feature_map: str | FeatureMap = "elu1", normalize: bool = True, chunk_size: int = 64,
                     backend: str = "auto", initial_state: LinearAttentionState | None = None,
                     return_state: bool = False) -> torch.Tensor | tuple[torch.Tensor, LinearAttentionState]:
    """Linear attention ``φ(Q)(φ(K)^T V)`` (Katharopoulos et al., arXiv:2006.16236).

    Args:
        q: (B, H, N, D) queries (before φ).
        k: (B, H, N, D) keys (before φ).
        v: (B, H, N, Dv) values.
        causal: token i attends to tokens j <= i.
        feature_map: a name in :data:`FEATURE_MAPS` (``elu1``, ``relu``, ``identity``, ``performer``,
            the last drawn with seed 0) or a callable (..., D) -> (..., Dk) applied to q and k.
        normalize: divide by ``φ(q_i)·Σ_j φ(k_j)``; rows where that is exactly 0 output zeros.
        chunk_size: C of the chunked form.
        backend: ``auto``, ``chunked``, ``recurrent``, ``parallel``, ``quadratic`` or ``triton``.
        initial_state: :class:`LinearAttentionState` to continue from (streaming); None = zeros.
        return_state: also return the final state.

    Returns:
        o (B, H, N, Dv), or ``(o, final_state)`` when ``return_state``.

    Raises:
        DanluError: mismatched shapes (naming both), a bad state, a backend that cannot run this case.
    """
    check_qkv(q, k, v, where="linear_attention")
    if q.shape[2] != k.shape[2]:
        raise DanluError(f"linear_attention: q and k must have the same number of tokens (self-attention form): "
                         f"q {tuple(q.shape)} vs k {tuple(k.shape)}")
    phi = make_feature_map(feature_map, q.shape[-1])
    qf, kf = phi(q), phi(k)                                                       # (B, H, N, Dk)
    name = _auto_backend(qf, kf, v, causal) if backend == "auto" else backend
    o, state = LINEAR_BACKENDS.get(name)(qf, kf, v, bool(causal), bool(normalize), int(chunk_size), initial_state)
    return (o, state) if return_state else o


__all__ = ["FEATURE_MAPS", "LINEAR_BACKENDS", "LinearAttentionState", "PerformerFeatureMap", "linear_attention",
           "make_feature_map"]
