"""FlashAttention forward and backward in Triton (fp16/bf16 inputs, fp32 accumulation).

Paper: "FlashAttention-2: Faster Attention with Better Parallelism and Work Partitioning",
Tri Dao, arXiv:2307.08691 (algorithm 1 forward, algorithm 2 backward); original idea in
"FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness", arXiv:2205.14135.

Forward: one program per (query tile, batch x head) walks the key/value tiles with an online
softmax (running max ``m`` and sum ``l``, in log2 units so ``exp2`` is used) and saves the
log-sum-exp per query row. Backward recomputes ``P`` per tile from the saved LSE, never storing an
N x N matrix: one kernel per key/value tile accumulates dK and dV over query tiles, one kernel per
query tile accumulates dQ over key/value tiles (no atomics, so results are deterministic).
``delta = rowsum(dO * O)`` comes from a small preprocessing kernel.

Masking: the tail tiles (any N) and the causal diagonal tiles run a masked variant of the inner
loop; full tiles run an unmasked one. Causal: query i sees keys j <= i + OFF, OFF = 0 (top-left,
SDPA) or Nk - Nq >= 0 (bottom-right, FlashAttention-2).
Head dims other than a power of two >= 16 are padded with masked loads (e.g. D = 48 runs in a
64-wide tile); D > 128 is refused. Inputs are read through their strides (non-contiguous is fine);
outputs and gradients are allocated contiguous. fp32 inputs are refused (DanluError): the ``auto``
dispatcher uses the exact reference backend for them instead.

Tile sizes are autotuned on the GPU over a small fixed config list per head-dim class (keyed on
head dim, causal flag and the next power of two of N); under ``TRITON_INTERPRET=1`` one small
fixed tile set is used so that CPU tests cross several tiles and tails.
"""

from __future__ import annotations

import math

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
from danlu.kernels.flash_attention.reference import CAUSAL_ALIGNS, causal_offset

_LOG2E = 1.4426950408889634
_LN2 = math.log(2.0)  # the kernels keep the LSE in log2 units; users get natural log
_BACKEND = "flash_attention_triton"


# ----------------------------------------------------------------------------------------- forward
@triton.jit
def _fwd_inner(acc, l_i, m_i, q, k_base, v_base, skn, skd, svn, svd, offs_m, offs_n, offs_d,
               lo, hi, Nk, qk_scale, off,
               MASK: tl.constexpr, CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr,
               BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, UPCAST: tl.constexpr):
    d_ok = offs_d < HEAD_DIM
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        kn = start_n + offs_n                                                     # (BN,)
        if MASK:
            kv_ok = kn < Nk
        else:
            kv_ok = kn >= 0
        kT = tl.load(k_base + kn[None, :] * skn + offs_d[:, None] * skd,
                     mask=kv_ok[None, :] & d_ok[:, None], other=0.0)              # (BD, BN)
        s = mma(q, kT, tl.zeros((BLOCK_M, BLOCK_N), tl.float32), UPCAST) * qk_scale  # (BM, BN) log2
        if MASK:
            ok = kv_ok[None, :]
            if CAUSAL:
                ok = ok & (kn[None, :] <= offs_m[:, None] + off)
            s = tl.where(ok, s, float("-inf"))
        m_new = tl.maximum(m_i, tl.max(s, 1))                                     # (BM,)
        alpha = tl.exp2(m_i - m_new)
        p = tl.exp2(s - m_new[:, None])                                           # (BM, BN)
        l_i = l_i * alpha + tl.sum(p, 1)
        v = tl.load(v_base + kn[:, None] * svn + offs_d[None, :] * svd,
                    mask=kv_ok[:, None] & d_ok[None, :], other=0.0)               # (BN, BD)
        acc = mma(p.to(v.dtype), v, acc * alpha[:, None], UPCAST)                # (BM, BD)
        m_i = m_new
    return acc, l_i, m_i


@triton.jit
def _fwd_kernel(Q, K, V, O, LSE,
                sqb, sqh, sqn, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sob, soh, son, sod,
                H, G, Nq, Nk, OFF, qk_scale, n_bucket,
                CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, UPCAST: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    q_base = Q + b * sqb + h * sqh
    k_base = K + b * skb + (h // G) * skh                                         # grouped-query: G heads share
    v_base = V + b * svb + (h // G) * svh
    o_base = O + b * sob + h * soh
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_n = tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    q_ok = (offs_m[:, None] < Nq) & (offs_d[None, :] < HEAD_DIM)
    q = tl.load(q_base + offs_m[:, None] * sqn + offs_d[None, :] * sqd, mask=q_ok, other=0.0)  # (BM, BD)
    m_i = tl.full((BLOCK_M,), float("-inf"), tl.float32)
    l_i = tl.zeros((BLOCK_M,), tl.float32)
    acc = tl.zeros((BLOCK_M, BLOCK_D), tl.float32)
    if CAUSAL:
        # query i sees keys j <= i + OFF (OFF >= 0): key tiles below the block's first diagonal need no
        # mask; the diagonal tile(s) and the tail do. OFF = 0, Nq = Nk: free = pid_m * BLOCK_M as before.
        m0 = pid_m * BLOCK_M
        free = tl.minimum(((m0 + OFF) // BLOCK_N) * BLOCK_N, (Nk // BLOCK_N) * BLOCK_N)
        acc, l_i, m_i = _fwd_inner(acc, l_i, m_i, q, k_base, v_base, skn, skd, svn, svd, offs_m, offs_n,
                                   offs_d, 0, free, Nk, qk_scale, OFF, False, True, HEAD_DIM, BLOCK_M, BLOCK_N,
                                   UPCAST)
        acc, l_i, m_i = _fwd_inner(acc, l_i, m_i, q, k_base, v_base, skn, skd, svn, svd, offs_m, offs_n,
                                   offs_d, free, tl.minimum(m0 + BLOCK_M + OFF, Nk), Nk, qk_scale, OFF,
                                   True, True, HEAD_DIM, BLOCK_M, BLOCK_N, UPCAST)
    else:
        full = (Nk // BLOCK_N) * BLOCK_N
        acc, l_i, m_i = _fwd_inner(acc, l_i, m_i, q, k_base, v_base, skn, skd, svn, svd, offs_m, offs_n,
                                   offs_d, 0, full, Nk, qk_scale, 0, False, False, HEAD_DIM, BLOCK_M, BLOCK_N,
                                   UPCAST)
        acc, l_i, m_i = _fwd_inner(acc, l_i, m_i, q, k_base, v_base, skn, skd, svn, svd, offs_m, offs_n,
                                   offs_d, full, Nk, Nk, qk_scale, 0, True, False, HEAD_DIM, BLOCK_M, BLOCK_N,
                                   UPCAST)
    acc = acc / l_i[:, None]
    tl.store(o_base + offs_m[:, None] * son + offs_d[None, :] * sod, acc.to(O.dtype.element_ty), mask=q_ok)
    tl.store(LSE + pid_bh.to(tl.int64) * Nq + offs_m, m_i + tl.log2(l_i), mask=offs_m < Nq)  # log2 units


# ---------------------------------------------------------------------------------------- backward
@triton.jit
def _bwd_preprocess(O, DO, DELTA, sob, soh, son, sod, sdb, sdh, sdn, sdd, H, Nq,
                    HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_M: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    ok = (offs_m[:, None] < Nq) & (offs_d[None, :] < HEAD_DIM)
    o = tl.load(O + b * sob + h * soh + offs_m[:, None] * son + offs_d[None, :] * sod, mask=ok, other=0.0)
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdn + offs_d[None, :] * sdd, mask=ok, other=0.0)
    delta = tl.sum(o.to(tl.float32) * do.to(tl.float32), 1)                      # (BM,)
    tl.store(DELTA + pid_bh.to(tl.int64) * Nq + offs_m, delta, mask=offs_m < Nq)


@triton.jit
def _bwd_dkdv_inner(dk, dv, k, v, q_base, do_base, lse_base, delta_base, sqn, sqd, sdn, sdd,
                    offs_n, offs_d, lo, hi, Nq, qk_scale, off,
                    MASK: tl.constexpr, CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr,
                    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, UPCAST: tl.constexpr):
    d_ok = offs_d < HEAD_DIM
    for start_m in range(lo, hi, BLOCK_M):
        start_m = tl.multiple_of(start_m, BLOCK_M)
        offs_m = start_m + tl.arange(0, BLOCK_M)                                  # (BM,)
        if MASK:
            q_ok = offs_m < Nq
        else:
            q_ok = offs_m >= 0
        qT = tl.load(q_base + offs_m[None, :] * sqn + offs_d[:, None] * sqd,
                     mask=q_ok[None, :] & d_ok[:, None], other=0.0)               # (BD, BM)
        lse = tl.load(lse_base + offs_m, mask=q_ok, other=0.0)                    # (BM,)
        sT = mma(k, qT, tl.zeros((BLOCK_N, BLOCK_M), tl.float32), UPCAST) * qk_scale  # (BN, BM)
        pT = tl.exp2(sT - lse[None, :])
        if MASK:
            ok = q_ok[None, :]
            if CAUSAL:
                ok = ok & (offs_m[None, :] + off >= offs_n[:, None])
            pT = tl.where(ok, pT, 0.0)
        do = tl.load(do_base + offs_m[:, None] * sdn + offs_d[None, :] * sdd,
                     mask=q_ok[:, None] & d_ok[None, :], other=0.0)               # (BM, BD)
        dv = mma(pT.to(do.dtype), do, dv, UPCAST)                                 # (BN, BD)
        delta = tl.load(delta_base + offs_m, mask=q_ok, other=0.0)                # (BM,)
        dpT = mma(v, tl.trans(do), tl.zeros((BLOCK_N, BLOCK_M), tl.float32), UPCAST)  # (BN, BM)
        dsT = pT * (dpT - delta[None, :])
        dk = mma(dsT.to(qT.dtype), tl.trans(qT), dk, UPCAST)                      # (BN, BD)
    return dk, dv


@triton.jit
def _bwd_dkdv_kernel(Q, K, V, DO, DK, DV, LSE, DELTA,
                     sqb, sqh, sqn, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sdb, sdh, sdn, sdd,
                     H, G, Nq, Nk, OFF, qk_scale, sm_scale, n_bucket,
                     CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                     BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, UPCAST: tl.constexpr):
    """Grid (key tiles, B * Hkv): dK, dV of one K/V head, summed over its G query heads (no atomics)."""
    pid_n = tl.program_id(0)
    pid_bh = tl.program_id(1)                                                     # over B * Hkv
    HKV = H // G
    b = (pid_bh // HKV).to(tl.int64)
    hk = (pid_bh % HKV).to(tl.int64)
    start_n = pid_n * BLOCK_N
    offs_n = start_n + tl.arange(0, BLOCK_N)
    offs_d = tl.arange(0, BLOCK_D)
    kv_ok = (offs_n[:, None] < Nk) & (offs_d[None, :] < HEAD_DIM)
    k = tl.load(K + b * skb + hk * skh + offs_n[:, None] * skn + offs_d[None, :] * skd, mask=kv_ok, other=0.0)
    v = tl.load(V + b * svb + hk * svh + offs_n[:, None] * svn + offs_d[None, :] * svd, mask=kv_ok, other=0.0)
    dk = tl.zeros((BLOCK_N, BLOCK_D), tl.float32)
    dv = tl.zeros((BLOCK_N, BLOCK_D), tl.float32)
    full = (Nq // BLOCK_M) * BLOCK_M
    for g in range(0, G):
        h = hk * G + g                                                            # query head
        q_base = Q + b * sqb + h * sqh
        do_base = DO + b * sdb + h * sdh
        lse_base = LSE + (b * H + h) * Nq
        delta_base = DELTA + (b * H + h) * Nq
        if CAUSAL:
            # query rows i with i + OFF in [start_n, start_n + BLOCK_N) straddle the diagonal: masked.
            # OFF = 0 (BLOCK_N % BLOCK_M == 0): rows start_n .. start_n + BLOCK_N, as before.
            m_lo = tl.maximum(((start_n - OFF) // BLOCK_M) * BLOCK_M, 0)
            mid_lo = tl.maximum(((start_n + BLOCK_N - OFF + BLOCK_M - 1) // BLOCK_M) * BLOCK_M, m_lo)
            dk, dv = _bwd_dkdv_inner(dk, dv, k, v, q_base, do_base, lse_base, delta_base, sqn, sqd, sdn, sdd,
                                     offs_n, offs_d, m_lo, tl.minimum(mid_lo, Nq), Nq, qk_scale, OFF,
                                     True, True, HEAD_DIM, BLOCK_M, BLOCK_N, UPCAST)
        else:
            mid_lo = 0
        dk, dv = _bwd_dkdv_inner(dk, dv, k, v, q_base, do_base, lse_base, delta_base, sqn, sqd, sdn, sdd,
                                 offs_n, offs_d, mid_lo, full, Nq, qk_scale, OFF, False, CAUSAL, HEAD_DIM, BLOCK_M,
                                 BLOCK_N, UPCAST)
        dk, dv = _bwd_dkdv_inner(dk, dv, k, v, q_base, do_base, lse_base, delta_base, sqn, sqd, sdn, sdd,
                                 offs_n, offs_d, tl.maximum(full, mid_lo), Nq, Nq, qk_scale, OFF,
                                 True, False, HEAD_DIM, BLOCK_M, BLOCK_N, UPCAST)
    out = pid_bh.to(tl.int64) * Nk * HEAD_DIM + offs_n[:, None] * HEAD_DIM + offs_d[None, :]  # contiguous
    tl.store(DK + out, (dk * sm_scale).to(DK.dtype.element_ty), mask=kv_ok)
    tl.store(DV + out, dv.to(DV.dtype.element_ty), mask=kv_ok)


@triton.jit
def _bwd_dq_inner(dq, q, do, lse, delta, k_base, v_base, skn, skd, svn, svd, offs_m, offs_d, lo, hi, Nk,
                  qk_scale, off, MASK: tl.constexpr, CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr,
                  BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, UPCAST: tl.constexpr):
    d_ok = offs_d < HEAD_DIM
    for start_n in range(lo, hi, BLOCK_N):
        start_n = tl.multiple_of(start_n, BLOCK_N)
        offs_n = start_n + tl.arange(0, BLOCK_N)                                  # (BN,)
        if MASK:
            kv_ok = offs_n < Nk
        else:
            kv_ok = offs_n >= 0
        kT = tl.load(k_base + offs_n[None, :] * skn + offs_d[:, None] * skd,
                     mask=kv_ok[None, :] & d_ok[:, None], other=0.0)              # (BD, BN)
        vT = tl.load(v_base + offs_n[None, :] * svn + offs_d[:, None] * svd,
                     mask=kv_ok[None, :] & d_ok[:, None], other=0.0)              # (BD, BN)
        s = mma(q, kT, tl.zeros((BLOCK_M, BLOCK_N), tl.float32), UPCAST) * qk_scale  # (BM, BN)
        p = tl.exp2(s - lse[:, None])
        if MASK:
            ok = kv_ok[None, :]
            if CAUSAL:
                ok = ok & (offs_n[None, :] <= offs_m[:, None] + off)
            p = tl.where(ok, p, 0.0)
        dp = mma(do, vT, tl.zeros((BLOCK_M, BLOCK_N), tl.float32), UPCAST)    # (BM, BN)
        ds = p * (dp - delta[:, None])
        dq = mma(ds.to(kT.dtype), tl.trans(kT), dq, UPCAST)                       # (BM, BD)
    return dq


@triton.jit
def _bwd_dq_kernel(Q, K, V, DO, DQ, LSE, DELTA,
                   sqb, sqh, sqn, sqd, skb, skh, skn, skd, svb, svh, svn, svd, sdb, sdh, sdn, sdd,
                   H, G, Nq, Nk, OFF, qk_scale, sm_scale, n_bucket,
                   CAUSAL: tl.constexpr, HEAD_DIM: tl.constexpr, BLOCK_D: tl.constexpr,
                   BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, UPCAST: tl.constexpr):
    pid_m = tl.program_id(0)
    pid_bh = tl.program_id(1)
    b = (pid_bh // H).to(tl.int64)
    h = (pid_bh % H).to(tl.int64)
    k_base = K + b * skb + (h // G) * skh
    v_base = V + b * svb + (h // G) * svh
    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    q_ok = (offs_m[:, None] < Nq) & (offs_d[None, :] < HEAD_DIM)
    q = tl.load(Q + b * sqb + h * sqh + offs_m[:, None] * sqn + offs_d[None, :] * sqd, mask=q_ok, other=0.0)
    do = tl.load(DO + b * sdb + h * sdh + offs_m[:, None] * sdn + offs_d[None, :] * sdd, mask=q_ok, other=0.0)
    lse = tl.load(LSE + pid_bh.to(tl.int64) * Nq + offs_m, mask=offs_m < Nq, other=0.0)
    delta = tl.load(DELTA + pid_bh.to(tl.int64) * Nq + offs_m, mask=offs_m < Nq, other=0.0)
    dq = tl.zeros((BLOCK_M, BLOCK_D), tl.float32)
    if CAUSAL:  # as the forward: unmasked key tiles up to the block's first diagonal, then masked ones
        m0 = pid_m * BLOCK_M
        free = tl.minimum(((m0 + OFF) // BLOCK_N) * BLOCK_N, (Nk // BLOCK_N) * BLOCK_N)
        dq = _bwd_dq_inner(dq, q, do, lse, delta, k_base, v_base, skn, skd, svn, svd, offs_m, offs_d,
                           0, free, Nk, qk_scale, OFF, False, True, HEAD_DIM, BLOCK_M, BLOCK_N, UPCAST)
        dq = _bwd_dq_inner(dq, q, do, lse, delta, k_base, v_base, skn, skd, svn, svd, offs_m, offs_d,
                           free, tl.minimum(m0 + BLOCK_M + OFF, Nk), Nk, qk_scale, OFF, True, True, HEAD_DIM,
                           BLOCK_M, BLOCK_N, UPCAST)
    else:
        full = (Nk // BLOCK_N) * BLOCK_N
        dq = _bwd_dq_inner(dq, q, do, lse, delta, k_base, v_base, skn, skd, svn, svd, offs_m, offs_d,
                           0, full, Nk, qk_scale, 0, False, False, HEAD_DIM, BLOCK_M, BLOCK_N, UPCAST)
        dq = _bwd_dq_inner(dq, q, do, lse, delta, k_base, v_base, skn, skd, svn, svd, offs_m, offs_d,
                           full, Nk, Nk, qk_scale, 0, True, False, HEAD_DIM, BLOCK_M, BLOCK_N, UPCAST)
    out = pid_bh.to(tl.int64) * Nq * HEAD_DIM + offs_m[:, None] * HEAD_DIM + offs_d[None, :]  # contiguous
    tl.store(DQ + out, (dq * sm_scale).to(DQ.dtype.element_ty), mask=q_ok)


# ------------------------------------------------------------------------------------- tile configs
def _cfg(bm: int, bn: int, warps: int, stages: int) -> triton.Config:
    return triton.Config({"BLOCK_M": bm, "BLOCK_N": bn}, num_warps=warps, num_stages=stages)


# Small deterministic lists per head-dim class ("small": BLOCK_D <= 64, "large": 128). Forward and dQ
# need BLOCK_M % BLOCK_N == 0, dK/dV needs BLOCK_N % BLOCK_M == 0 (causal diagonal alignment).
_CONFIGS: dict[str, dict[str, list[triton.Config]]] = {
    "fwd": {
        "small": [_cfg(128, 64, 4, 3), _cfg(128, 128, 8, 3), _cfg(64, 64, 4, 4), _cfg(128, 32, 4, 4)],
        "large": [_cfg(128, 64, 8, 3), _cfg(128, 128, 8, 2), _cfg(64, 64, 4, 3), _cfg(128, 32, 4, 3)],
    },
    "dkdv": {
        "small": [_cfg(32, 128, 4, 3), _cfg(64, 128, 8, 3), _cfg(32, 64, 4, 4), _cfg(64, 64, 4, 3)],
        "large": [_cfg(32, 128, 8, 2), _cfg(64, 128, 8, 2), _cfg(32, 64, 4, 3), _cfg(64, 64, 4, 2)],
    },
    "dq": {
        "small": [_cfg(128, 32, 4, 3), _cfg(128, 64, 8, 3), _cfg(64, 32, 4, 4), _cfg(64, 64, 4, 3)],
        "large": [_cfg(128, 32, 8, 2), _cfg(128, 64, 8, 2), _cfg(64, 32, 4, 3), _cfg(64, 64, 4, 2)],
    },
}
# Interpreter: small tiles so that N = 63 or 100 crosses several tiles, a diagonal and a tail.
_INTERP_TILES = {"fwd": (32, 16), "dkdv": (16, 32), "dq": (32, 16)}
_KERNELS = {"fwd": _fwd_kernel, "dkdv": _bwd_dkdv_kernel, "dq": _bwd_dq_kernel}
_TUNED: dict[tuple[str, str], object] = {}
_KEY = ["HEAD_DIM", "CAUSAL", "n_bucket"]


def _launcher(kind: str, block_d: int):
    """(kernel, extra kwargs): the autotuned kernel on GPU, the plain one with fixed tiles otherwise."""
    if INTERPRET:
        bm, bn = _INTERP_TILES[kind]
        return _KERNELS[kind], {"BLOCK_M": bm, "BLOCK_N": bn}
    cls = "small" if block_d <= 64 else "large"
    if (kind, cls) not in _TUNED:
        tuner = triton.autotune(configs=tune_configs(_CONFIGS[kind][cls]), key=_KEY)
        _TUNED[kind, cls] = tuner(_KERNELS[kind])
    return _TUNED[kind, cls], {}


# ------------------------------------------------------------------------------------------ launch
def _flash_fwd(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
               scale: float, off: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Returns ``o`` (B, H, Nq, D) contiguous and ``lse`` (B, H, Nq) fp32 in log2 units."""
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    o = torch.empty((B, H, Nq, D), device=q.device, dtype=q.dtype)
    lse = torch.empty((B, H, Nq), device=q.device, dtype=torch.float32)
    bd = block_dim(D)
    kernel, tiles = _launcher("fwd", bd)

    def grid(meta):
        return (triton.cdiv(Nq, meta["BLOCK_M"]), B * H)

    with device_guard(q):
        kernel[grid](q, k, v, o, lse, *strides(q), *strides(k), *strides(v), *strides(o),
                     H, H // k.shape[1], Nq, Nk, off, scale * _LOG2E, triton.next_power_of_2(max(Nq, Nk)),
                     CAUSAL=causal, HEAD_DIM=D, BLOCK_D=bd, UPCAST=upcast_flag(q.dtype), **tiles)
    return o, lse


def _flash_bwd(do: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, o: torch.Tensor,
               lse: torch.Tensor, causal: bool, scale: float, dlse: torch.Tensor | None = None, off: int = 0,
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dQ, dK, dV (contiguous, input dtype) from dO and the saved O and LSE.

    ``dlse`` (B, H, Nq): gradient of the returned natural-log LSE; since dLSE_i/dS_ij = P_ij it enters
    as ``delta - dlse`` (``dS = P (dP - delta + dLSE)``), so the kernels are unchanged."""
    B, H, Nq, D = q.shape
    Nk = k.shape[2]
    bd = block_dim(D)
    delta = torch.empty((B, H, Nq), device=q.device, dtype=torch.float32)
    dq = torch.empty((B, H, Nq, D), device=q.device, dtype=q.dtype)
    Hkv = k.shape[1]
    dk = torch.empty((B, Hkv, Nk, D), device=q.device, dtype=k.dtype)
    dv = torch.empty((B, Hkv, Nk, D), device=q.device, dtype=v.dtype)
    common = (H, H // Hkv, Nq, Nk, off, scale * _LOG2E, scale, triton.next_power_of_2(max(Nq, Nk)))
    flags = {"CAUSAL": causal, "HEAD_DIM": D, "BLOCK_D": bd, "UPCAST": upcast_flag(q.dtype)}
    with device_guard(q):
        _bwd_preprocess[(triton.cdiv(Nq, 64), B * H)](o, do, delta, *strides(o), *strides(do), H, Nq,
                                                      HEAD_DIM=D, BLOCK_D=bd, BLOCK_M=64)
        if dlse is not None:
            delta.sub_(dlse.reshape(B, H, Nq).to(torch.float32))
        kernel, tiles = _launcher("dkdv", bd)
        kernel[lambda m: (triton.cdiv(Nk, m["BLOCK_N"]), B * Hkv)](
            q, k, v, do, dk, dv, lse, delta, *strides(q), *strides(k), *strides(v), *strides(do),
            *common, **flags, **tiles)
        kernel, tiles = _launcher("dq", bd)
        kernel[lambda m: (triton.cdiv(Nq, m["BLOCK_M"]), B * H)](
            q, k, v, do, dq, lse, delta, *strides(q), *strides(k), *strides(v), *strides(do),
            *common, **flags, **tiles)
    return dq, dk, dv


class _FlashAttention(torch.autograd.Function):
    """autograd wrapper: Triton forward saves (q, k, v, o, lse); Triton backward returns dq, dk, dv."""

    @staticmethod
    def forward(ctx, q, k, v, causal: bool, scale: float, return_lse: bool = False,  # type: ignore[override]
                off: int = 0):
        o, lse = _flash_fwd(q, k, v, causal, scale, off)
        ctx.save_for_backward(q, k, v, o, lse)
        ctx.causal = causal
        ctx.scale = scale
        ctx.off = off
        if return_lse:
            return o, lse * _LN2                                                  # natural log, (B, H, Nq)
        return o

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, do, dlse=None):  # type: ignore[override]
        q, k, v, o, lse = ctx.saved_tensors
        dq, dk, dv = _flash_bwd(do, q, k, v, o, lse, ctx.causal, ctx.scale, dlse, ctx.off)
        return dq, dk, dv, None, None, None, None


# ------------------------------------------------------------------------------------------ public
def _why_not(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
             causal_align: str = "top_left") -> str | None:
    gqa = (isinstance(q, torch.Tensor) and isinstance(k, torch.Tensor) and q.dim() == k.dim() == 4
           and q.shape[0] == k.shape[0] and k.shape[1] >= 1 and q.shape[1] != k.shape[1])
    if gqa:  # grouped-query: k, v share (B, Hkv); Hkv divides H
        if q.shape[1] % k.shape[1] != 0:
            return f"k has Hkv = {k.shape[1]} heads, which does not divide q's H = {q.shape[1]}"
        reason = why_unsupported({"k": k, "v": v}) or why_unsupported({"q": q})
        if reason is None and (q.device != k.device or q.dtype != k.dtype):
            reason = f"q ({q.dtype}, {q.device}) and k ({k.dtype}, {k.device}) must share dtype and device"
    else:
        reason = why_unsupported({"q": q, "k": k, "v": v})
    if reason is not None:
        return reason
    if k.shape[2] != v.shape[2]:
        return f"k has Nk = {k.shape[2]} tokens but v has {v.shape[2]}; they must match"
    if not (q.shape[3] == k.shape[3] == v.shape[3]):
        return f"head dims differ (q {q.shape[3]}, k {k.shape[3]}, v {v.shape[3]}); they must be equal"
    if causal_align not in CAUSAL_ALIGNS:
        return f"causal_align must be one of {sorted(CAUSAL_ALIGNS)}, got {causal_align!r}"
    if causal and causal_offset(causal_align, q.shape[2], k.shape[2]) < 0:
        return (f"bottom-right causal attention with Nq = {q.shape[2]} > Nk = {k.shape[2]} leaves query rows "
                "with no key (use the reference backend, which outputs zeros there)")
    return why_not_runnable(q)


def triton_supports(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool,
                    causal_align: str = "top_left") -> bool:
    """True if :func:`flash_attention_triton` accepts these inputs.

    Needs: (B, H, N, D) fp16/bf16 tensors on one CUDA device (k, v may have Hkv heads with Hkv
    dividing H: grouped-query / multi-query attention, K/V read as stored) (or CPU under ``TRITON_INTERPRET=1``),
    equal head dims D <= 128 (non powers of two are padded), Nk of k and v equal; when ``causal``,
    any Nq, Nk with ``causal_align="top_left"`` (query i sees keys j <= i) and Nq <= Nk with
    ``"bottom_right"`` (j <= i + Nk - Nq). fp32 returns False (the ``auto`` dispatcher then uses the exact reference).
    """
    return _why_not(q, k, v, causal, causal_align) is None


def flash_attention_triton(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                           scale: float | None = None, *, return_lse: bool = False,
                           causal_align: str = "top_left") -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Exact softmax attention ``softmax(scale * q k^T [+ causal mask]) v`` with Triton kernels.

    Args:
        q: (B, H, Nq, D) float16 or bfloat16, any strides.
        k: (B, Hkv, Nk, D), same dtype and device as ``q``; Hkv divides H (grouped-query attention:
            query head h reads K/V head h // (H / Hkv); dK, dV sum over the group in-kernel).
        v: (B, Hkv, Nk, D).
        causal: query i attends to keys j <= i + offset, offset 0 (``causal_align="top_left"``, SDPA)
            or Nk - Nq (``"bottom_right"``, FlashAttention-2; needs Nq <= Nk).
        scale: multiplier of ``q k^T``; None means ``D ** -0.5``.
        return_lse: also return the row log-sum-exp of the scaled scores, (B, H, Nq) fp32, natural
            log; differentiable (its gradient enters the backward through ``delta``).

    Returns:
        (B, H, Nq, D) contiguous, dtype of ``q`` (or ``(o, lse)``); differentiable w.r.t. q, k, v
        (Triton backward, O(N) extra memory: the LSE and delta rows).

    Raises:
        DanluError: unsupported input (see :func:`triton_supports`), with the reason.
    """
    reason = _why_not(q, k, v, bool(causal), causal_align)
    if reason is not None:
        raise DanluError(f"{_BACKEND}: {reason}")
    if scale is None:
        scale = q.shape[-1] ** -0.5
    scale = float(scale)
    if not math.isfinite(scale):
        raise DanluError(f"{_BACKEND}: scale must be a finite float, got {scale}")
    off = causal_offset(causal_align, q.shape[2], k.shape[2]) if causal else 0
    return _FlashAttention.apply(q, k, v, bool(causal), scale, bool(return_lse), off)
