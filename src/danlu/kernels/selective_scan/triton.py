"""Fused selective scan in Triton: forward and backward kernels, fp32 state, fp16/bf16/fp32 inputs.

Same recurrence and semantics as :mod:`.reference` (Gu & Dao, "Mamba", arXiv:2312.00752, Alg. 2;
mamba_ssm ``selective_scan_fn``)::

    Δ = softplus(delta + bias);   x_t = exp(Δ_t A) x_{t-1} + Δ_t B_t u_t;   y_t = (C_t · x_t + D u_t) silu(z_t)

Grid (channel blocks within a group, groups, batch): a program owns ``BLOCK_D`` channels of one
batch row and all N states, keeps x in fp32 registers and walks the L steps; every channel block
lies inside one group of B and of C, so the per-time B_t, C_t rows it needs are shared.

Backward walks the steps in reverse with the adjoint h_t = ∂loss/∂x_t (fp32)::

    h_t = h_{t+1} exp(Δ_{t+1} A) + dy_t C_t,   dΔ_t = Σ_n h_t (A exp(Δ_t A) x_{t-1} + B_t u_t),
    dA += h_t Δ_t exp(Δ_t A) x_{t-1},  dB_t = Σ_d h_t Δ_t u_t,  dC_t = Σ_d dy_t x_t,  du_t = dy_t D + Σ_n h_t Δ_t B_t

reading the forward states x_t saved in fp32 (B, D, L, N) (the simple, exact choice: memory O(B D L N)
during training, none at inference). Reductions over batch (dA, dD, dbias, time-invariant dB/dC)
and over channels (per-time dB_t, dC_t) use fp32 atomics.

Under ``TRITON_INTERPRET=1`` the same kernels run on CPU tensors (the tests do so).
"""

from __future__ import annotations

import math

import torch
import triton
import triton.language as tl

from danlu.errors import DanluError
from danlu.kernels._triton_utils import INTERPRET, device_guard, device_ok

SUPPORTED = (torch.float16, torch.bfloat16, torch.float32)
MAX_STATE = 256


@triton.jit
def _softplus(v):
    """log(1 + e^v) with torch's threshold 20 and an accurate log1p (Goldberg's trick)."""
    e = tl.exp(tl.minimum(v, 20.0))
    w = 1.0 + e
    lp = tl.where(w == 1.0, e, tl.log(w) * e / (w - 1.0))
    return tl.where(v > 20.0, v, lp)


@triton.jit
def _scan_fwd_kernel(U, DELTA, A, Bp, Cp, Dp, Z, BIAS, OUT, X, LAST,
                     L, DIM, N, HG, HB, HC,
                     sbb, sbg, sbd, sbn, sbl, scb, scg, scd, scn, scl,
                     HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                     SAVE: tl.constexpr, BD: tl.constexpr, BN: tl.constexpr):
    """Grid (cdiv(HG, BD), DIM // HG, batch). U, DELTA, Z, OUT contiguous (B, DIM, L); X (B, DIM, L, N) fp32."""
    pid_h = tl.program_id(0)
    g = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)                                              # int64 offsets: B*D*L*N may pass 2^31
    dh = pid_h * BD + tl.arange(0, BD)
    dmask = dh < HG
    d = g * HG + dh
    n = tl.arange(0, BN)
    nmask = n < N
    m2 = dmask[:, None] & nmask[None, :]
    a = tl.load(A + d[:, None] * N + n[None, :], mask=m2, other=0.0).to(tl.float32)
    gb = (g * HG) // HB
    gc = (g * HG) // HC
    pb = Bp + b * sbb + gb * sbg + d[:, None] * sbd + n[None, :] * sbn
    pc = Cp + b * scb + gc * scg + d[:, None] * scd + n[None, :] * scn
    if HAS_D:
        dv = tl.load(Dp + d, mask=dmask, other=0.0).to(tl.float32)
    if HAS_BIAS:
        bias = tl.load(BIAS + d, mask=dmask, other=0.0).to(tl.float32)
    base = (b * DIM + d) * L
    xbase = ((b * DIM + d[:, None]) * L) * N + n[None, :]
    x = tl.zeros((BD, BN), dtype=tl.float32)
    for t in range(0, L):
        u = tl.load(U + base + t, mask=dmask, other=0.0).to(tl.float32)
        dt = tl.load(DELTA + base + t, mask=dmask, other=0.0).to(tl.float32)
        if HAS_BIAS:
            dt = dt + bias
        if SOFTPLUS:
            dt = _softplus(dt)
        bt = tl.load(pb + t * sbl, mask=m2, other=0.0).to(tl.float32)
        ct = tl.load(pc + t * scl, mask=m2, other=0.0).to(tl.float32)
        x = tl.exp(dt[:, None] * a) * x + (dt * u)[:, None] * bt
        if SAVE:
            tl.store(X + xbase + t * N, x, mask=m2)
        y = tl.sum(x * ct, axis=1)
        if HAS_D:
            y = y + dv * u
        if HAS_Z:
            zz = tl.load(Z + base + t, mask=dmask, other=0.0).to(tl.float32)
            y = y * zz * tl.sigmoid(zz)
        tl.store(OUT + base + t, y.to(OUT.dtype.element_ty), mask=dmask)
    tl.store(LAST + (b * DIM + d[:, None]) * N + n[None, :], x, mask=m2)


@triton.jit
def _scan_bwd_kernel(U, DELTA, A, Bp, Cp, Dp, Z, BIAS, X, DOUT, DLAST,
                     DU, DDELTA, DZ, DA, DB, DC, DD, DBIAS,
                     L, DIM, N, HG, HB, HC,
                     sbb, sbg, sbd, sbn, sbl, scb, scg, scd, scn, scl,
                     HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                     HAS_DLAST: tl.constexpr, B_VAR: tl.constexpr, C_VAR: tl.constexpr,
                     BD: tl.constexpr, BN: tl.constexpr):
    """Reverse scan. DU, DDELTA, DZ (B, DIM, L) fp32; DA (DIM, N), DD, DBIAS (DIM,), DB/DC like B/C, fp32."""
    pid_h = tl.program_id(0)
    g = tl.program_id(1)
    b = tl.program_id(2).to(tl.int64)                                              # int64 offsets: B*D*L*N may pass 2^31
    dh = pid_h * BD + tl.arange(0, BD)
    dmask = dh < HG
    d = g * HG + dh
    n = tl.arange(0, BN)
    nmask = n < N
    m2 = dmask[:, None] & nmask[None, :]
    a = tl.load(A + d[:, None] * N + n[None, :], mask=m2, other=0.0).to(tl.float32)
    gb = (g * HG) // HB
    gc = (g * HG) // HC
    ob = b * sbb + gb * sbg + d[:, None] * sbd + n[None, :] * sbn
    oc = b * scb + gc * scg + d[:, None] * scd + n[None, :] * scn
    obn = b * sbb + gb * sbg + n * sbn                                              # per-time dB_t row (N,)
    ocn = b * scb + gc * scg + n * scn
    dv = tl.zeros((BD,), dtype=tl.float32)
    if HAS_D:
        dv = tl.load(Dp + d, mask=dmask, other=0.0).to(tl.float32)
    bias = tl.zeros((BD,), dtype=tl.float32)
    if HAS_BIAS:
        bias = tl.load(BIAS + d, mask=dmask, other=0.0).to(tl.float32)
    base = (b * DIM + d) * L
    xbase = ((b * DIM + d[:, None]) * L) * N + n[None, :]
    h = tl.zeros((BD, BN), dtype=tl.float32)
    if HAS_DLAST:
        h = tl.load(DLAST + (b * DIM + d[:, None]) * N + n[None, :], mask=m2, other=0.0).to(tl.float32)
    da_acc = tl.zeros((BD, BN), dtype=tl.float32)
    db_acc = tl.zeros((BD, BN), dtype=tl.float32)
    dc_acc = tl.zeros((BD, BN), dtype=tl.float32)
    dd_acc = tl.zeros((BD,), dtype=tl.float32)
    dbias_acc = tl.zeros((BD,), dtype=tl.float32)
    for i in range(0, L):
        t = L - 1 - i
        u = tl.load(U + base + t, mask=dmask, other=0.0).to(tl.float32)
        raw = tl.load(DELTA + base + t, mask=dmask, other=0.0).to(tl.float32) + bias
        dt = raw
        if SOFTPLUS:
            dt = _softplus(raw)
        bt = tl.load(Bp + ob + t * sbl, mask=m2, other=0.0).to(tl.float32)
        ct = tl.load(Cp + oc + t * scl, mask=m2, other=0.0).to(tl.float32)
        xt = tl.load(X + xbase + t * N, mask=m2, other=0.0)
        xp = tl.load(X + xbase + (t - 1) * N, mask=m2 & (t > 0), other=0.0)
        dy = tl.load(DOUT + base + t, mask=dmask, other=0.0).to(tl.float32)
        if HAS_Z:
            pre = tl.sum(xt * ct, axis=1) + dv * u
            zz = tl.load(Z + base + t, mask=dmask, other=0.0).to(tl.float32)
            sig = tl.sigmoid(zz)
            tl.store(DZ + base + t, dy * pre * sig * (1.0 + zz * (1.0 - sig)), mask=dmask)
            dy = dy * zz * sig
        dd_acc += dy * u
        du = dy * dv
        if C_VAR:
            tl.atomic_add(DC + ocn + t * scl, tl.sum(dy[:, None] * xt, axis=0), mask=nmask)
        else:
            dc_acc += dy[:, None] * xt
        h += dy[:, None] * ct
        decay = tl.exp(dt[:, None] * a)
        ddt = tl.sum(h * (a * decay * xp + bt * u[:, None]), axis=1)
        da_acc += h * dt[:, None] * decay * xp
        if B_VAR:
            tl.atomic_add(DB + obn + t * sbl, tl.sum(h * (dt * u)[:, None], axis=0), mask=nmask)
        else:
            db_acc += h * (dt * u)[:, None]
        du += tl.sum(h * bt, axis=1) * dt
        h = h * decay
        if SOFTPLUS:
            ddt = ddt * tl.sigmoid(raw)
        dbias_acc += ddt
        tl.store(DU + base + t, du, mask=dmask)
        tl.store(DDELTA + base + t, ddt, mask=dmask)
    tl.atomic_add(DA + d[:, None] * N + n[None, :], da_acc, mask=m2)
    if HAS_D:
        tl.atomic_add(DD + d, dd_acc, mask=dmask)
    if HAS_BIAS:
        tl.atomic_add(DBIAS + d, dbias_acc, mask=dmask)
    if not B_VAR:
        tl.atomic_add(DB + ob, db_acc, mask=m2)
    if not C_VAR:
        tl.atomic_add(DC + oc, dc_acc, mask=m2)


_KERNELS = {"fwd": _scan_fwd_kernel, "bwd": _scan_bwd_kernel}


def _bc_layout(t: torch.Tensor, dim: int) -> tuple[torch.Tensor, int, tuple[int, int, int, int, int]]:
    """B or C as (tensor, channels per group, strides (b, g, d, n, l)); (B, N, L) becomes (B, 1, N, L)."""
    if t.dim() == 2:                                                                # (D, N) time-invariant
        t = t.contiguous()
        return t, dim, (0, 0, t.stride(0), t.stride(1), 0)
    if t.dim() == 3:
        t = t.unsqueeze(1)
    t = t.contiguous()
    return t, dim // t.shape[1], (t.stride(0), t.stride(1), 0, t.stride(2), t.stride(3))


def why_unsupported(u: torch.Tensor, A: torch.Tensor) -> str | None:
    """Reason the Triton kernels cannot run these inputs (dtype, device, N), or None."""
    if u.dtype not in SUPPORTED:
        return (f"dtype {u.dtype} is not supported by the Triton backend (expected float16, bfloat16 or float32); "
                "use backend='chunked' for float64")
    if A.shape[1] > MAX_STATE:
        return f"state size N = {A.shape[1]} exceeds {MAX_STATE} for the Triton backend"
    if not device_ok(u):
        return (f"inputs are on {u.device}; the Triton backend needs CUDA tensors (or CPU tensors with "
                "TRITON_INTERPRET=1 set before danlu's Triton modules are imported)")
    return None


def _geometry(dim: int, hb: int, hc: int) -> tuple[int, int, int]:
    hg = math.gcd(hb, hc)                                                           # channels per block-group
    bd = min(32, triton.next_power_of_2(hg))
    return hg, bd, dim // hg


class _SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, softplus):
        bsz, dim, L = u.shape
        N = A.shape[1]
        u_, delta_, z_ = u.contiguous(), delta.contiguous(), (z.contiguous() if z is not None else None)
        A_ = A.contiguous()
        Bt, hb, sb = _bc_layout(B, dim)
        Ct, hc, sc = _bc_layout(C, dim)
        hg, bd, groups = _geometry(dim, hb, hc)
        save = any(ctx.needs_input_grad)
        out = torch.empty_like(u_)
        last = torch.empty(bsz, dim, N, device=u.device, dtype=torch.float32)
        X = torch.empty(bsz, dim, L, N, device=u.device, dtype=torch.float32) if save else last
        dummy = out
        with device_guard(u):
            _scan_fwd_kernel[(triton.cdiv(hg, bd), groups, bsz)](
                u_, delta_, A_, Bt, Ct, D if D is not None else dummy, z_ if z_ is not None else dummy,
                delta_bias if delta_bias is not None else dummy, out, X, last,
                L, dim, N, hg, hb, hc, *sb, *sc,
                HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=softplus,
                SAVE=save, BD=bd, BN=max(2, triton.next_power_of_2(N)))
        ctx.save_for_backward(u_, delta_, A_, Bt, Ct, D, z_, delta_bias, X if save else None)
        ctx.meta = (softplus, B.dim(), C.dim(), B.shape, C.shape, hb, hc, sb, sc)
        return out, last

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dout, dlast):
        u, delta, A, Bt, Ct, D, z, delta_bias, X = ctx.saved_tensors
        softplus, bdim, cdim, bshape, cshape, hb, hc, sb, sc = ctx.meta
        bsz, dim, L = u.shape
        N = A.shape[1]
        f32 = {"device": u.device, "dtype": torch.float32}
        du, ddelta = torch.empty(bsz, dim, L, **f32), torch.empty(bsz, dim, L, **f32)
        dz = torch.empty(bsz, dim, L, **f32) if z is not None else du
        dA = torch.zeros(dim, N, **f32)
        dB, dC = torch.zeros(Bt.shape, **f32), torch.zeros(Ct.shape, **f32)
        dD = torch.zeros(dim, **f32) if D is not None else dA
        dbias = torch.zeros(dim, **f32) if delta_bias is not None else dA
        hg, bd, groups = _geometry(dim, hb, hc)
        dummy = du
        with device_guard(u):
            _scan_bwd_kernel[(triton.cdiv(hg, bd), groups, bsz)](
                u, delta, A, Bt, Ct, D if D is not None else dummy, z if z is not None else dummy,
                delta_bias if delta_bias is not None else dummy, X, dout.contiguous(),
                dlast.contiguous() if dlast is not None else dummy,
                du, ddelta, dz, dA, dB, dC, dD, dbias,
                L, dim, N, hg, hb, hc, *sb, *sc,
                HAS_D=D is not None, HAS_Z=z is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=softplus,
                HAS_DLAST=dlast is not None, B_VAR=bdim != 2, C_VAR=cdim != 2,
                BD=bd, BN=max(2, triton.next_power_of_2(N)))
        return (du.to(u.dtype), ddelta.to(delta.dtype), dA.to(A.dtype), dB.reshape(bshape).to(Bt.dtype),
                dC.reshape(cshape).to(Ct.dtype), dD.to(D.dtype) if D is not None else None,
                dz.to(z.dtype) if z is not None else None,
                dbias.to(delta_bias.dtype) if delta_bias is not None else None, None)


def selective_scan_triton(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """Triton selective scan; inputs already checked by :func:`danlu.kernels.selective_scan.selective_scan`.

    B, C, u, delta, z are used in u's dtype; A, D, delta_bias are used in fp32. Returns
    out (B, D, L) in u's dtype and the last state (B, D, N) fp32; differentiable in every input.

    Raises:
        DanluError: fp64 inputs, a device Triton cannot run on, N > 256.
    """
    why = why_unsupported(u, A)
    if why is not None:
        raise DanluError(f"selective_scan: {why}")
    dt = u.dtype
    f32 = [t.float() if t is not None else None for t in (A, D, delta_bias)]
    return _SelectiveScan.apply(u, delta.to(dt), f32[0], B.to(dt), C.to(dt), f32[1],
                                z.to(dt) if z is not None else None, f32[2], bool(delta_softplus))


__all__ = ["INTERPRET", "MAX_STATE", "SUPPORTED", "selective_scan_triton", "why_unsupported"]
