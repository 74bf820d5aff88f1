"""Chunked causal linear attention in Triton: forward and backward, fp32 state, streaming state in/out.

Paper: "Transformers are RNNs: Fast Autoregressive Transformers with Linear Attention",
Katharopoulos et al., arXiv:2006.16236; chunked (block-parallel) form from "Transformer Quality in
Linear Time", Hua et al., arXiv:2202.10447, laid out as in flash-linear-attention's ``chunk`` kernels
("Gated Linear Attention Transformers with Hardware-Efficient Training", Yang et al., arXiv:2312.06635).

With features ``q = φ(Q)``, ``k = φ(K)`` (B, H, N, Dk) and values v (B, H, N, Dv), split N into chunks
of C tokens; ``S_c`` is the state (Dk, Dv) before chunk c::

    S_0 = S_init,   S_{c+1} = S_c + k_c^T v_c                    (state kernel, sequential over c, fp32)
    o_c = q_c S_c + tril(q_c k_c^T) v_c                          (output kernel, parallel over c)

Backward with dS_c = dS_final + Σ_{t >= c} q_t^T do_t (reverse state kernel, fp32)::

    dq_c = tril(do_c v_c^T) k_c + do_c S_c^T
    dk_c = tril(do_c v_c^T)^T q_c + v_c dS_{c+1}^T
    dv_c = tril(q_c k_c^T)^T do_c + k_c dS_{c+1}

The intra-chunk products run on tensor cores (``tl.dot`` in the input dtype, fp32 accumulation);
the running state is carried in fp32 registers and snapshotted per chunk for the parallel kernels:
in bf16 for bf16 inputs (as fla does), in fp32 for fp16 inputs, because Σ kᵀv (and Σ qᵀdo in
backward) can pass fp16's largest value 65504 at long N; products with an fp32 snapshot tile scale
it by one factor ``m = max(max|s| / 2^14, 1)`` into fp16 range for the tensor cores and
multiply back (see ``_mma_state``). The final state and its gradient stay fp32. The state snapshots are
recomputed in backward, so extra memory is O((N / C) · Dk · Dv) per head.

Normalization (``normalize=True``: ``o = q S / (q · z)`` with ``z = Σ k``) is composed in torch on top
of the kernel's fp32 numerator: ``z`` is an fp32 cumulative sum over tokens (O(N · Dk)), its last row
is the final ``k_sum``, and autograd differentiates the division. With ``normalize=False`` no fp32
copy of k is made (only ``k_sum`` when the final state is asked for, an fp32-accumulating sum). Rows whose normalizer is exactly 0 output zeros (as the reference).
The streaming state is :class:`~danlu.kernels.linear_attention.reference.LinearAttentionState`
(``kv`` (B, H, Dk, Dv) and ``k_sum`` (B, H, Dk), fp32).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from danlu.errors import DanluError
from danlu.kernels._triton_utils import (
    INTERPRET,
    block_dim,
    device_guard,
    mma,
    strides,
    tune_configs,
    upcast_flag,
    why_not_runnable,
    why_unsupported,
)
from danlu.kernels.linear_attention.reference import LinearAttentionState, check_state, safe_divide

_BACKEND = "linear_attention_triton"
CHUNK_SIZES = (16, 32, 64, 128)


@triton.jit
def _mma_state(a, s, acc, UPCAST: tl.constexpr):
    """``acc + a @ s`` with ``s`` a state snapshot tile.

    An fp32 snapshot (fp16 inputs) is divided by ``m = max(max|s| / 2^14, 1)``, rounded to ``a``'s
    dtype for the tensor-core product, and the product multiplied back by ``m``: fp16 precision, fp32
    range, fp16 operands (an fp32/TF32 ``tl.dot`` at D = 128 needs 256 KiB of shared memory in the
    gradient kernel, over the H100's 227). States below 2^14 take ``m = 1`` (the plain product)."""
    if s.dtype == tl.float32:
        m = tl.maximum(tl.max(tl.max(tl.abs(s), axis=1), axis=0) / 16384.0, 1.0)
        acc = acc + mma(a, (s / m).to(a.dtype), tl.zeros(acc.shape, tl.float32), UPCAST) * m
    else:
        acc = mma(a, s, acc, UPCAST)
    return acc


@triton.jit
def _state_fwd_kernel(K, V, H0, HS, HT, skb, skh, skn, skd, svb, svh, svn, svd,
                      H, N, NT, DK, DV, HAS_H0: tl.constexpr,
                      BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, UPCAST: tl.constexpr):
    """Grid (Dk tiles, Dv tiles, B*H): HS[bh, c] = S_c (snapshot dtype), HT[bh] = S_final (fp32)."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_bh = tl.program_id(2)
    b = (i_bh // H).to(tl.int64)
    h = (i_bh % H).to(tl.int64)
    offs_k = i_k * BK + tl.arange(0, BK)
    offs_v = i_v * BV + tl.arange(0, BV)
    kv_ok = (offs_k[:, None] < DK) & (offs_v[None, :] < DV)
    state_off = offs_k[:, None] * DV + offs_v[None, :]                            # (BK, BV) in a (DK, DV) slab
    if HAS_H0:
        s = tl.load(H0 + i_bh.to(tl.int64) * DK * DV + state_off, mask=kv_ok, other=0.0).to(tl.float32)
    else:
        s = tl.zeros((BK, BV), tl.float32)
    hs_base = HS + i_bh.to(tl.int64) * NT * DK * DV
    for c in range(0, NT):
        tl.store(hs_base + c * DK * DV + state_off, s.to(HS.dtype.element_ty), mask=kv_ok)
        offs_t = c * BT + tl.arange(0, BT)
        t_ok = offs_t < N
        kT = tl.load(K + b * skb + h * skh + offs_t[None, :] * skn + offs_k[:, None] * skd,
                     mask=t_ok[None, :] & (offs_k[:, None] < DK), other=0.0)     # (BK, BT)
        v = tl.load(V + b * svb + h * svh + offs_t[:, None] * svn + offs_v[None, :] * svd,
                    mask=t_ok[:, None] & (offs_v[None, :] < DV), other=0.0)      # (BT, BV)
        s = mma(kT, v, s, UPCAST)                                                 # (BK, BV) fp32
    tl.store(HT + i_bh.to(tl.int64) * DK * DV + state_off, s, mask=kv_ok)


@triton.jit
def _out_fwd_kernel(Q, K, V, HS, O, sqb, sqh, sqn, sqd, skb, skh, skn, skd, svb, svh, svn, svd,
                    sob, soh, son, sod, H, N, NT, DK, DV,
                    BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, UPCAST: tl.constexpr):
    """Grid (Dv tiles, chunks, B*H): o_c = q_c S_c + tril(q_c k_c^T) v_c."""
    i_v = tl.program_id(0)
    c = tl.program_id(1)
    i_bh = tl.program_id(2)
    b = (i_bh // H).to(tl.int64)
    h = (i_bh % H).to(tl.int64)
    offs_t = c * BT + tl.arange(0, BT)
    offs_k = tl.arange(0, BK)
    offs_v = i_v * BV + tl.arange(0, BV)
    t_ok = offs_t < N
    k_ok = offs_k < DK
    v_ok = offs_v < DV
    q = tl.load(Q + b * sqb + h * sqh + offs_t[:, None] * sqn + offs_k[None, :] * sqd,
                mask=t_ok[:, None] & k_ok[None, :], other=0.0)                   # (BT, BK)
    kT = tl.load(K + b * skb + h * skh + offs_t[None, :] * skn + offs_k[:, None] * skd,
                 mask=t_ok[None, :] & k_ok[:, None], other=0.0)                  # (BK, BT)
    v = tl.load(V + b * svb + h * svh + offs_t[:, None] * svn + offs_v[None, :] * svd,
                mask=t_ok[:, None] & v_ok[None, :], other=0.0)                   # (BT, BV)
    s_c = tl.load(HS + (i_bh.to(tl.int64) * NT + c) * DK * DV + offs_k[:, None] * DV + offs_v[None, :],
                  mask=k_ok[:, None] & v_ok[None, :], other=0.0)                 # (BK, BV)
    a = mma(q, kT, tl.zeros((BT, BT), tl.float32), UPCAST)                       # (BT, BT)
    ar = tl.arange(0, BT)
    a = tl.where(ar[:, None] >= ar[None, :], a, 0.0)
    o = _mma_state(q, s_c, tl.zeros((BT, BV), tl.float32), UPCAST)
    o = mma(a.to(v.dtype), v, o, UPCAST)                                          # (BT, BV) fp32
    tl.store(O + b * sob + h * soh + offs_t[:, None] * son + offs_v[None, :] * sod, o.to(O.dtype.element_ty),
             mask=t_ok[:, None] & v_ok[None, :])


@triton.jit
def _state_bwd_kernel(Q, DO, DHT, DHS, DH0, sqb, sqh, sqn, sqd, sdb, sdh, sdn, sdd,
                      H, N, NT, DK, DV, HAS_DHT: tl.constexpr,
                      BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, UPCAST: tl.constexpr):
    """Grid (Dk tiles, Dv tiles, B*H): DHS[bh, c] = dS_{c+1} (grad of the state after chunk c)."""
    i_k = tl.program_id(0)
    i_v = tl.program_id(1)
    i_bh = tl.program_id(2)
    b = (i_bh // H).to(tl.int64)
    h = (i_bh % H).to(tl.int64)
    offs_k = i_k * BK + tl.arange(0, BK)
    offs_v = i_v * BV + tl.arange(0, BV)
    kv_ok = (offs_k[:, None] < DK) & (offs_v[None, :] < DV)
    state_off = offs_k[:, None] * DV + offs_v[None, :]
    if HAS_DHT:
        ds = tl.load(DHT + i_bh.to(tl.int64) * DK * DV + state_off, mask=kv_ok, other=0.0).to(tl.float32)
    else:
        ds = tl.zeros((BK, BV), tl.float32)
    dhs_base = DHS + i_bh.to(tl.int64) * NT * DK * DV
    for i in range(0, NT):
        c = NT - 1 - i
        tl.store(dhs_base + c * DK * DV + state_off, ds.to(DHS.dtype.element_ty), mask=kv_ok)
        offs_t = c * BT + tl.arange(0, BT)
        t_ok = offs_t < N
        qT = tl.load(Q + b * sqb + h * sqh + offs_t[None, :] * sqn + offs_k[:, None] * sqd,
                     mask=t_ok[None, :] & (offs_k[:, None] < DK), other=0.0)     # (BK, BT)
        do = tl.load(DO + b * sdb + h * sdh + offs_t[:, None] * sdn + offs_v[None, :] * sdd,
                     mask=t_ok[:, None] & (offs_v[None, :] < DV), other=0.0)     # (BT, BV)
        ds = mma(qT, do.to(qT.dtype), ds, UPCAST)                                 # (BK, BV) fp32
    tl.store(DH0 + i_bh.to(tl.int64) * DK * DV + state_off, ds, mask=kv_ok)


@triton.jit
def _grad_kernel(Q, K, V, DO, HS, DHS, DQ, DK_, DV_, sqb, sqh, sqn, sqd, skb, skh, skn, skd,
                 svb, svh, svn, svd, sdb, sdh, sdn, sdd, H, N, NT, DK, DV,
                 BT: tl.constexpr, BK: tl.constexpr, BV: tl.constexpr, UPCAST: tl.constexpr):
    """Grid (chunks, B*H): dq, dk, dv of one chunk (full Dk and Dv per program; outputs contiguous)."""
    c = tl.program_id(0)
    i_bh = tl.program_id(1)
    b = (i_bh // H).to(tl.int64)
    h = (i_bh % H).to(tl.int64)
    offs_t = c * BT + tl.arange(0, BT)
    offs_k = tl.arange(0, BK)
    offs_v = tl.arange(0, BV)
    t_ok = offs_t < N
    tk = t_ok[:, None] & (offs_k[None, :] < DK)
    tv = t_ok[:, None] & (offs_v[None, :] < DV)
    kvm = (offs_k[:, None] < DK) & (offs_v[None, :] < DV)
    q = tl.load(Q + b * sqb + h * sqh + offs_t[:, None] * sqn + offs_k[None, :] * sqd, mask=tk, other=0.0)
    k = tl.load(K + b * skb + h * skh + offs_t[:, None] * skn + offs_k[None, :] * skd, mask=tk, other=0.0)
    v = tl.load(V + b * svb + h * svh + offs_t[:, None] * svn + offs_v[None, :] * svd, mask=tv, other=0.0)
    do = tl.load(DO + b * sdb + h * sdh + offs_t[:, None] * sdn + offs_v[None, :] * sdd, mask=tv, other=0.0)
    do = do.to(q.dtype)                                                           # (BT, BV)
    slab = (i_bh.to(tl.int64) * NT + c) * DK * DV + offs_k[:, None] * DV + offs_v[None, :]
    s_c = tl.load(HS + slab, mask=kvm, other=0.0)                                 # (BK, BV) S_c
    ds_c = tl.load(DHS + slab, mask=kvm, other=0.0)                               # (BK, BV) dS_{c+1}
    ar = tl.arange(0, BT)
    lower = ar[:, None] >= ar[None, :]
    a = tl.where(lower, mma(q, tl.trans(k), tl.zeros((BT, BT), tl.float32), UPCAST), 0.0)   # (BT, BT)
    dp = tl.where(lower, mma(do, tl.trans(v), tl.zeros((BT, BT), tl.float32), UPCAST), 0.0)  # (BT, BT)
    dq = mma(dp.to(k.dtype), k, _mma_state(do, tl.trans(s_c), tl.zeros((BT, BK), tl.float32), UPCAST), UPCAST)
    dk = mma(tl.trans(dp).to(q.dtype), q,
             _mma_state(v, tl.trans(ds_c), tl.zeros((BT, BK), tl.float32), UPCAST), UPCAST)
    dv = mma(tl.trans(a).to(do.dtype), do, _mma_state(k, ds_c, tl.zeros((BT, BV), tl.float32), UPCAST), UPCAST)
    row = i_bh.to(tl.int64) * N + offs_t
    tl.store(DQ + row[:, None] * DK + offs_k[None, :], dq.to(DQ.dtype.element_ty), mask=tk)
    tl.store(DK_ + row[:, None] * DK + offs_k[None, :], dk.to(DK_.dtype.element_ty), mask=tk)
    tl.store(DV_ + row[:, None] * DV + offs_v[None, :], dv.to(DV_.dtype.element_ty), mask=tv)


# ------------------------------------------------------------------------------------- tile configs
def _tiles(bk: int, bv: int) -> tuple[int, int]:
    """State-kernel tile of the (Dk, Dv) state: at most 64 (32 under the interpreter, to cross tiles)."""
    cap = 32 if INTERPRET else 64
    return min(bk, cap), min(bv, cap)


_WARP_CONFIGS = [triton.Config({}, num_warps=w, num_stages=s) for w, s in ((4, 2), (4, 3), (8, 2), (8, 3))]
_KERNELS = {"state_fwd": _state_fwd_kernel, "out_fwd": _out_fwd_kernel, "state_bwd": _state_bwd_kernel,
            "grad": _grad_kernel}
_TUNED: dict[str, object] = {}


def _launcher(kind: str):
    """The plain kernel under the interpreter, else one autotuned over warps/stages (keyed on the tiles)."""
    if INTERPRET:
        return _KERNELS[kind]
    if kind not in _TUNED:
        tuner = triton.autotune(configs=tune_configs(_WARP_CONFIGS), key=["BT", "BK", "BV"])
        _TUNED[kind] = tuner(_KERNELS[kind])
    return _TUNED[kind]


def snapshot_dtype(dtype: torch.dtype) -> torch.dtype:
    """dtype of the per-chunk state snapshots: fp32 for fp16 inputs (Σ kᵀv passes fp16's 65504 at long N
    or large features), the input dtype for bf16 (fp32's range already)."""
    return torch.float32 if dtype == torch.float16 else dtype


def _states(k, v, kv0, chunk_size):
    """Per-chunk states HS (B*H, NT, Dk, Dv) in :func:`snapshot_dtype` and the final state (B, H, Dk, Dv) fp32."""
    B, H, N, Dk = k.shape
    Dv = v.shape[-1]
    nt = triton.cdiv(N, chunk_size)
    tk, tv = _tiles(block_dim(Dk), block_dim(Dv))
    hs = torch.empty((B * H, nt, Dk, Dv), device=k.device, dtype=snapshot_dtype(k.dtype))
    final = torch.empty((B, H, Dk, Dv), device=k.device, dtype=torch.float32)
    h0 = kv0.contiguous() if kv0 is not None else final  # dummy pointer when HAS_H0 is False
    _launcher("state_fwd")[(triton.cdiv(Dk, tk), triton.cdiv(Dv, tv), B * H)](
        k, v, h0, hs, final, *strides(k), *strides(v), H, N, nt, Dk, Dv, HAS_H0=kv0 is not None,
        BT=chunk_size, BK=tk, BV=tv, UPCAST=upcast_flag(k.dtype))
    return hs, final


def _forward(q, k, v, kv0, chunk_size, out_dtype):
    B, H, N, Dk = q.shape
    Dv = v.shape[-1]
    hs, final = _states(k, v, kv0, chunk_size)
    o = torch.empty((B, H, N, Dv), device=q.device, dtype=out_dtype)
    bv = min(block_dim(Dv), 32 if INTERPRET else 64)
    _launcher("out_fwd")[(triton.cdiv(Dv, bv), hs.shape[1], B * H)](
        q, k, v, hs, o, *strides(q), *strides(k), *strides(v), *strides(o), H, N, hs.shape[1], Dk, Dv,
        BT=chunk_size, BK=block_dim(Dk), BV=bv, UPCAST=upcast_flag(q.dtype))
    return o, final


def _backward(do, d_final, q, k, v, kv0, chunk_size):
    B, H, N, Dk = q.shape
    Dv = v.shape[-1]
    hs, _ = _states(k, v, kv0, chunk_size)  # recomputed: cheaper in memory than saving them
    nt = hs.shape[1]
    tk, tv = _tiles(block_dim(Dk), block_dim(Dv))
    dhs = torch.empty_like(hs)
    dh0 = torch.empty((B, H, Dk, Dv), device=q.device, dtype=torch.float32)
    dht = d_final.contiguous() if d_final is not None else dh0  # dummy pointer when HAS_DHT is False
    _launcher("state_bwd")[(triton.cdiv(Dk, tk), triton.cdiv(Dv, tv), B * H)](
        q, do, dht, dhs, dh0, *strides(q), *strides(do), H, N, nt, Dk, Dv, HAS_DHT=d_final is not None,
        BT=chunk_size, BK=tk, BV=tv, UPCAST=upcast_flag(q.dtype))
    dq = torch.empty((B, H, N, Dk), device=q.device, dtype=q.dtype)
    dk = torch.empty((B, H, N, Dk), device=q.device, dtype=k.dtype)
    dv = torch.empty((B, H, N, Dv), device=q.device, dtype=v.dtype)
    _launcher("grad")[(nt, B * H)](
        q, k, v, do, hs, dhs, dq, dk, dv, *strides(q), *strides(k), *strides(v), *strides(do),
        H, N, nt, Dk, Dv, BT=chunk_size, BK=block_dim(Dk), BV=block_dim(Dv), UPCAST=upcast_flag(q.dtype))
    return dq, dk, dv, dh0


class _ChunkLinearAttention(torch.autograd.Function):
    """Unnormalized causal linear attention: (q, k, v, kv0) -> (numerator, final kv state)."""

    @staticmethod
    def forward(ctx, q, k, v, kv0, chunk_size: int, out_dtype: torch.dtype):  # type: ignore[override]
        with device_guard(q):
            o, final = _forward(q, k, v, kv0, chunk_size, out_dtype)
        ctx.save_for_backward(q, k, v, kv0)
        ctx.chunk_size = chunk_size
        ctx.has_kv0 = kv0 is not None
        return o, final

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, do, d_final):  # type: ignore[override]
        q, k, v, kv0 = ctx.saved_tensors
        with device_guard(q):
            dq, dk, dv, dh0 = _backward(do, d_final, q, k, v, kv0 if ctx.has_kv0 else None, ctx.chunk_size)
        return dq, dk, dv, (dh0 if ctx.has_kv0 else None), None, None


# ------------------------------------------------------------------------------------------ public
def _why_not(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> str | None:
    reason = why_unsupported({"q_feat": q, "k_feat": k, "v": v})
    if reason is not None:
        return reason
    if q.shape[3] != k.shape[3]:
        return f"q_feat has Dk = {q.shape[3]} but k_feat has {k.shape[3]}; they must match"
    if not (q.shape[2] == k.shape[2] == v.shape[2]):
        return f"q_feat, k_feat, v must have the same N, got {q.shape[2]}, {k.shape[2]}, {v.shape[2]}"
    return why_not_runnable(q)


def triton_supports(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = True) -> bool:
    """True if :func:`linear_attention_triton` accepts these feature-mapped inputs.

    Needs: causal, (B, H, N, D) fp16/bf16 tensors on one CUDA device (or CPU under
    ``TRITON_INTERPRET=1``), equal N, ``Dk`` and ``Dv`` each at most 128 (padded to a power of two).
    """
    return bool(causal) and _why_not(q, k, v) is None


def linear_attention_triton(q_feat: torch.Tensor, k_feat: torch.Tensor, v: torch.Tensor, *,
                            normalize: bool = True, chunk_size: int = 64,
                            initial_state: LinearAttentionState | None = None, output_final_state: bool = False,
                            ) -> tuple[torch.Tensor, LinearAttentionState | None]:
    """Causal chunked linear attention on features: ``o_i = q_i S_i [/ (q_i · z_i)]``, ``S_i = Σ_{j<=i} k_j^T v_j``.

    Args:
        q_feat: (B, H, N, Dk) query features φ(Q), float16 or bfloat16, any strides.
        k_feat: (B, H, N, Dk) key features φ(K).
        v: (B, H, N, Dv) values.
        normalize: divide by ``q_i · z_i`` with ``z_i = Σ_{j<=i} k_j`` (rows where it is 0 give 0).
        chunk_size: C, one of 16, 32, 64, 128 (tensor-core tile; 64 is a good default).
        initial_state: a :class:`LinearAttentionState` (kv (B, H, Dk, Dv), k_sum (B, H, Dk)) to continue
            from; None means zeros. Gradients flow into it.
        output_final_state: also return the state after the last token (fp32, differentiable).

    Returns:
        ``(o, state)``: o (B, H, N, Dv) in the input dtype; state or None.

    Raises:
        DanluError: unsupported input (see :func:`triton_supports`) or a bad chunk size or state.
    """
    reason = _why_not(q_feat, k_feat, v)
    if reason is not None:
        raise DanluError(f"{_BACKEND}: {reason}")
    if chunk_size not in CHUNK_SIZES:
        raise DanluError(f"{_BACKEND}: chunk_size must be one of {CHUNK_SIZES}, got {chunk_size}")
    s0 = None
    if initial_state is not None:
        s0 = check_state(initial_state, q_feat, v)
        if s0.kv.device != q_feat.device:
            raise DanluError(f"{_BACKEND}: initial_state is on {s0.kv.device} but q_feat is on {q_feat.device}")
    out_dtype = torch.float32 if normalize else q_feat.dtype
    num, kv = _ChunkLinearAttention.apply(q_feat, k_feat, v, None if s0 is None else s0.kv, chunk_size, out_dtype)
    k_sum = None
    if normalize:
        z = torch.cumsum(k_feat, dim=2, dtype=torch.float32)                     # (B, H, N, Dk) inclusive
        if s0 is not None:
            z = z + s0.k_sum[:, :, None, :]
        den = (q_feat.float() * z).sum(-1)                                        # (B, H, N)
        o = safe_divide(num, den).to(q_feat.dtype)
        k_sum = z[:, :, -1]                                                       # (B, H, Dk): no second pass
    else:
        o = num                                                                   # no fp32 pass over k at all
    state = None
    if output_final_state:
        if k_sum is None:  # fp32 accumulation; on CUDA a half/bf16 -> fp32 sum reads k without a copy
            k_sum = k_feat.sum(2, dtype=torch.float32)
            k_sum = k_sum if s0 is None else s0.k_sum + k_sum
        state = LinearAttentionState(kv, k_sum)
    return o, state
