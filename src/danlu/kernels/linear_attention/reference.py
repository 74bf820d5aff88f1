"""Linear attention in four equal forms, on features already mapped by φ.

Paper: "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention"
(Katharopoulos et al., arXiv:2006.16236); chunked form as in "Transformer Quality in Linear
Time" (Hua et al., arXiv:2202.10447) and fla's ``chunk`` kernels.

With features ``q = φ(Q)`` (B, H, N, Dk), ``k = φ(K)`` (B, H, N, Dk) and values v (B, H, N, Dv)::

    quadratic:  A = q k^T (tril if causal);  o = A v / rowsum(A)            O(N²) time and memory
    parallel:   o = q (k^T v) / (q · Σ_j k_j)                                non-causal, O(N)
    recurrent:  S_t = S_{t-1} + k_t^T v_t,  z_t = z_{t-1} + k_t,  o_t = q_t S_t / (q_t · z_t)
    chunked:    per chunk c of C tokens, o_c = [(q_c k_c^T ∘ tril) v_c + q_c S_{c-1}] / [...]

The division happens only when ``normalize=True``. A row whose normalizer is exactly 0 (e.g.
relu features of a query that are all zero: it attends to nothing) outputs **zeros**, never NaN.

Streaming state
---------------
:class:`LinearAttentionState` is the causal state after a prefix of tokens, shared by every
backend (the Triton kernels return and accept the same object)::

    kv:    (B, H, Dk, Dv)  S = Σ_j k_j^T v_j     (sum of outer products of key features and values)
    k_sum: (B, H, Dk)      z = Σ_j k_j           (normalizer; kept even when normalize=False)

Both are in the accumulation dtype ``promote_types(dtype, float32)`` (float32 for half/bf16
inputs, float64 for float64). ``initial_state=None`` means zeros. Feeding a sequence in pieces,
each with the previous piece's final state, equals feeding it whole.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from danlu.errors import DanluError


class LinearAttentionState(NamedTuple):
    """Causal linear-attention state after a prefix: ``kv`` (B, H, Dk, Dv) and ``k_sum`` (B, H, Dk)."""

    kv: torch.Tensor
    k_sum: torch.Tensor


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """The accumulation / state dtype for inputs of ``dtype``."""
    return torch.promote_types(dtype, torch.float32)


def zero_state(q: torch.Tensor, v: torch.Tensor) -> LinearAttentionState:
    """A zero state for features q (B, H, N, Dk) and values v (B, H, N, Dv)."""
    b, h, _, dk = q.shape
    t = acc_dtype(q.dtype)
    return LinearAttentionState(torch.zeros(b, h, dk, v.shape[-1], dtype=t, device=q.device),
                                torch.zeros(b, h, dk, dtype=t, device=q.device))


def check_state(state: LinearAttentionState | None, q: torch.Tensor, v: torch.Tensor) -> LinearAttentionState:
    """Validate ``state`` against q (B, H, N, Dk), v (B, H, N, Dv); ``None`` becomes a zero state."""
    if state is None:
        return zero_state(q, v)
    if not isinstance(state, tuple) or len(state) != 2:
        raise DanluError(f"linear_attention: initial_state must be a LinearAttentionState(kv, k_sum), "
                         f"got {type(state).__name__}")
    kv, ks = state
    b, h, _, dk = q.shape
    want_kv, want_ks = (b, h, dk, v.shape[-1]), (b, h, dk)
    if tuple(kv.shape) != want_kv or tuple(ks.shape) != want_ks:
        raise DanluError(f"linear_attention: initial_state shapes kv {tuple(kv.shape)}, k_sum {tuple(ks.shape)} "
                         f"do not match kv {want_kv}, k_sum {want_ks} for q {tuple(q.shape)}, v {tuple(v.shape)}")
    t = acc_dtype(q.dtype)
    return LinearAttentionState(kv.to(t), ks.to(t))


def safe_divide(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """``num / den[..., None]`` with rows where ``den == 0`` set to zero (no NaN, zero gradient)."""
    den = den[..., None]
    zero = den == 0
    return torch.where(zero, torch.zeros_like(num), num / torch.where(zero, torch.ones_like(den), den))


def _finish(num: torch.Tensor, den: torch.Tensor, normalize: bool, dtype: torch.dtype) -> torch.Tensor:
    return (safe_divide(num, den) if normalize else num).to(dtype)


def quadratic_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True,
                               normalize: bool = True, initial_state: LinearAttentionState | None = None,
                               ) -> tuple[torch.Tensor, LinearAttentionState]:
    """The explicit O(N²) form (the reference the others are tested against) -> (o (B, H, N, Dv), final state)."""
    s0 = check_state(initial_state, q, v)
    t = acc_dtype(q.dtype)
    qa, ka, va = q.to(t), k.to(t), v.to(t)
    a = torch.matmul(qa, ka.transpose(-1, -2))                                   # (B, H, N, N)
    if causal:
        a = torch.tril(a)
    num = torch.matmul(a, va) + torch.matmul(qa, s0.kv)                           # (B, H, N, Dv)
    den = a.sum(-1) + torch.einsum("bhnd,bhd->bhn", qa, s0.k_sum)                 # (B, H, N)
    final = LinearAttentionState(s0.kv + torch.matmul(ka.transpose(-1, -2), va), s0.k_sum + ka.sum(2))
    return _finish(num, den, normalize, q.dtype), final


def parallel_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, normalize: bool = True,
                              initial_state: LinearAttentionState | None = None,
                              ) -> tuple[torch.Tensor, LinearAttentionState]:
    """Non-causal form ``q (k^T v)`` in O(N Dk Dv) -> (o (B, H, N, Dv), final state)."""
    s0 = check_state(initial_state, q, v)
    t = acc_dtype(q.dtype)
    qa, ka, va = q.to(t), k.to(t), v.to(t)
    kv = s0.kv + torch.matmul(ka.transpose(-1, -2), va)                          # (B, H, Dk, Dv)
    ks = s0.k_sum + ka.sum(2)                                                     # (B, H, Dk)
    num = torch.matmul(qa, kv)                                                    # (B, H, N, Dv)
    den = torch.einsum("bhnd,bhd->bhn", qa, ks)                                   # (B, H, N)
    return _finish(num, den, normalize, q.dtype), LinearAttentionState(kv, ks)


def recurrent_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, normalize: bool = True,
                               initial_state: LinearAttentionState | None = None,
                               ) -> tuple[torch.Tensor, LinearAttentionState]:
    """Causal form as an RNN, token by token (the streaming-inference path) -> (o, final state)."""
    kv, ks = check_state(initial_state, q, v)
    t = acc_dtype(q.dtype)
    qa, ka, va = q.to(t), k.to(t), v.to(t)
    nums, dens = [], []
    for i in range(q.shape[2]):
        kv = kv + ka[:, :, i, :, None] * va[:, :, i, None, :]                     # (B, H, Dk, Dv)
        ks = ks + ka[:, :, i]                                                     # (B, H, Dk)
        nums.append(torch.einsum("bhd,bhde->bhe", qa[:, :, i], kv))               # (B, H, Dv)
        dens.append((qa[:, :, i] * ks).sum(-1))                                   # (B, H)
    if not nums:
        return v.new_zeros(v.shape), LinearAttentionState(kv, ks)
    num, den = torch.stack(nums, 2), torch.stack(dens, 2)
    return _finish(num, den, normalize, q.dtype), LinearAttentionState(kv, ks)


def chunked_linear_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, normalize: bool = True,
                             chunk_size: int = 64, initial_state: LinearAttentionState | None = None,
                             ) -> tuple[torch.Tensor, LinearAttentionState]:
    """Causal chunked form: quadratic inside chunks of ``chunk_size``, state across them -> (o, final state).

    Memory is O(N·C + (N/C)·Dk·Dv) instead of O(N²); N need not be a multiple of C (zero
    padding, which adds nothing to the state).
    """
    if chunk_size < 1:
        raise DanluError(f"linear_attention: chunk_size must be >= 1, got {chunk_size}")
    s0 = check_state(initial_state, q, v)
    t = acc_dtype(q.dtype)
    b, h, n, dk = q.shape
    dv = v.shape[-1]
    c = chunk_size
    nc = -(-n // c)
    pad = nc * c - n
    qa, ka, va = (F.pad(x.to(t), (0, 0, 0, pad)) if pad else x.to(t) for x in (q, k, v))  # no copy when N % C == 0
    qc = qa.view(b, h, nc, c, dk)                                                 # (B, H, nC, C, Dk)
    kc = ka.view(b, h, nc, c, dk)
    vc = va.view(b, h, nc, c, dv)                                                 # (B, H, nC, C, Dv)
    kv_c = torch.matmul(kc.transpose(-1, -2), vc)                                 # (B, H, nC, Dk, Dv)
    ks_c = kc.sum(3)                                                              # (B, H, nC, Dk)
    kv_prev = torch.cat([s0.kv[:, :, None], kv_c[:, :, :-1]], 2).cumsum(2)        # state before each chunk
    ks_prev = torch.cat([s0.k_sum[:, :, None], ks_c[:, :, :-1]], 2).cumsum(2)     # (B, H, nC, Dk)
    a = torch.tril(torch.matmul(qc, kc.transpose(-1, -2)))                        # (B, H, nC, C, C)
    num = torch.matmul(a, vc) + torch.matmul(qc, kv_prev)                         # (B, H, nC, C, Dv)
    den = a.sum(-1) + torch.einsum("bhcnd,bhcd->bhcn", qc, ks_prev)               # (B, H, nC, C)
    num = num.reshape(b, h, nc * c, dv)[:, :, :n]
    den = den.reshape(b, h, nc * c)[:, :, :n]
    if nc == 0:
        final = s0
    else:
        final = LinearAttentionState(kv_prev[:, :, -1] + kv_c[:, :, -1], ks_prev[:, :, -1] + ks_c[:, :, -1])
    return _finish(num, den, normalize, q.dtype), final
