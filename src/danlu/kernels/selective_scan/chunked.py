"""The chunked selective scan: time steps of many chunks advance together, in cache-sized tiles.

Same recurrence as :mod:`.reference` (Gu & Dao, arXiv:2312.00752), reorganised for speed on CPU
(and usable on GPU) in pure torch:

1. The sequence is cut into chunks of ``chunk_size`` steps; a *tile* is ``chunks_per_tile``
   consecutive chunks. Per tile, the decays ``exp(Δ A)`` and inputs ``Δ B u`` are formed once,
   (T, B, M, D, N), small enough to stay in cache: no (B, D, L, N) tensor is ever materialised,
   which on CPU costs more in page faults than in arithmetic.
2. Pass 1: every chunk of the tile scans its T steps from a zero state, all M chunks in one op
   per step, giving each chunk's local end state; a chunk's total decay is the product of its
   step decays (autograd path) or exp(A ΣΔ) (in-place path; equal up to rounding).
3. Pass 2: a short sequential loop over the M chunks turns (local end state, total decay) into
   each chunk's true start state, carrying the state in from the previous tile.
4. Pass 3: the chunks rescan from their true start states, emitting y_t = C_t · x_t.

Python-level steps per tile: 2 T + M instead of T M, on tensors M times larger. The start states
are formed in a different order than the sequential scan's, so results agree to rounding (float64:
~1e-15 relative). L not a multiple of the chunk size is padded with Δ = 0 (decay 1, input 0),
which leaves the state unchanged.

Without autograd the tile tensors are allocated once per call and updated in place (allocating a
fresh 0.5 MB tensor per step costs more in page faults than the step itself); when any input
requires grad every op is out of place, so autograd gives every gradient. Both paths are tested.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.kernels.selective_scan._inputs import ScanInputs, channel_mul


def _tile_view(t: torch.Tensor, lo: int, m: int, T: int) -> torch.Tensor:
    """(..., L) -> (T, ..., M): the tile's M chunks of T steps, time-major."""
    return t[..., lo:lo + m * T].unflatten(-1, (m, T)).movedim(-1, 0)              # (T, ..., M)


def _group_tile(g: torch.Tensor, lo: int, m: int, T: int) -> torch.Tensor:
    """B or C over a tile: (D, N) stays; (B, G, N, L) -> (T, B, M, G, N)."""
    if g.dim() == 2:
        return g
    return _tile_view(g, lo, m, T).permute(0, 1, 4, 2, 3).contiguous()              # (T, B, M, G, N)


def _needs_grad(s: ScanInputs) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in (s.u, s.delta, s.A, s.B, s.C))


def scan_chunked(s: ScanInputs, chunk_size: int = 16, chunks_per_tile: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    """Chunked scan (see the module docstring).

    Args:
        s: prepared inputs (:func:`~danlu.kernels.selective_scan._inputs.prepare`).
        chunk_size: T, steps per chunk (scanned one op per step, all chunks of a tile at once).
        chunks_per_tile: M, chunks advanced together.

    Returns:
        y (B, D, L) and the last state (B, D, N), compute dtype.
    """
    for name, v in (("chunk_size", chunk_size), ("chunks_per_tile", chunks_per_tile)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise DanluError(f"selective_scan: {name} must be a positive int, got {v!r}")
    b, d, L, n = s.shape
    T = min(chunk_size, L)
    pad = (-L) % T
    delta, du = s.delta, s.delta * s.u                                              # (B, D, L)
    Bm, Cm = s.B, s.C
    if pad:
        delta, du = F.pad(delta, (0, pad)), F.pad(du, (0, pad))
        Bm = Bm if Bm.dim() == 2 else F.pad(Bm, (0, pad))
        Cm = Cm if Cm.dim() == 2 else F.pad(Cm, (0, pad))
    n_chunks = (L + pad) // T
    if _needs_grad(s):
        return _run_autograd(s, delta, du, Bm, Cm, n_chunks, T, chunks_per_tile, L)
    return _run_inplace(s, delta, du, Bm, Cm, n_chunks, T, min(chunks_per_tile, n_chunks), L)


def _run_autograd(s, delta, du, Bm, Cm, n_chunks, T, M, L):
    b, d, _, n = s.shape
    h = s.u.new_zeros(b, d, n)                                                      # state carried across tiles
    ys = []
    for c0 in range(0, n_chunks, M):
        m = min(M, n_chunks - c0)
        lo = c0 * T
        dl = _tile_view(delta, lo, m, T).transpose(-1, -2)[..., None]              # (T, B, M, D, 1)
        dut = _tile_view(du, lo, m, T).transpose(-1, -2)[..., None]                # (T, B, M, D, 1)
        y, h = _tile_autograd(dl, dut, s.A, _group_tile(Bm, lo, m, T), _group_tile(Cm, lo, m, T), h)
        ys.append(y)                                                                # (B, D, M*T)
    return torch.cat(ys, -1)[..., :L], h


def _tile_autograd(dl, dut, A, Bt, Ct, h):
    """One tile, out of place. dl, dut: (T, B, M, D, 1); h: (B, D, N). Returns y (B, D, M*T), h."""
    T, m = dl.shape[0], dl.shape[2]
    decay = torch.exp(dl * A)                                                       # (T, B, M, D, N)
    inp = channel_mul(dut, Bt)                                                      # (T, B, M, D, N)
    x = inp[0]                                                                      # pass 1 (B, M, D, N)
    for j in range(1, T):
        x = decay[j] * x + inp[j]
    total = decay.prod(0)                                                           # (B, M, D, N)
    starts = []
    for c in range(m):                                                              # pass 2
        starts.append(h)
        h = total[:, c] * h + x[:, c]
    x = torch.stack(starts, 1)                                                      # (B, M, D, N)
    out = []
    for j in range(T):                                                              # pass 3
        x = decay[j] * x + inp[j]
        out.append(channel_mul(x, Ct if Ct.dim() == 2 else Ct[j]).sum(-1))          # (B, M, D)
    return torch.stack(out, -1).transpose(1, 2).flatten(2), h


def _run_inplace(s, delta, du, Bm, Cm, n_chunks, T, M, L):
    """No-autograd path: time-major inputs and state-major tiles (..., N, D), so every broadcast runs
    along the long, contiguous channel axis; tile buffers allocated once and updated in place.

    Pass 3 writes each step's state over that step's input (``inp[j] += decay[j] * x_{j-1}``, one
    fused ``addcmul`` per step), so after the loop ``inp`` holds every state of the tile and the
    C-contraction runs once per tile (a batched (1, N) @ (N, D) matmul) instead of once per step.
    """
    b, d, n = s.shape[0], s.shape[1], s.shape[3]
    Lp = delta.shape[-1]
    new = s.u.new_empty
    decay, inp = new(T, b, M, n, d), new(T, b, M, n, d)
    x, starts = new(b, M, n, d), new(b, M, n, d)
    out = new(Lp, b, d)                                                             # time-major output
    dl_all = delta.permute(2, 0, 1).contiguous()                                    # (Lp, B, D)
    du_all = du.permute(2, 0, 1).contiguous()
    At = s.A.T.contiguous()                                                         # (N, D)
    Bt_const = Bm.T.contiguous() if Bm.dim() == 2 else None
    Ct_const = Cm.T.contiguous() if Cm.dim() == 2 else None
    h = s.u.new_zeros(b, n, d)
    for c0 in range(0, n_chunks, M):
        m = min(M, n_chunks - c0)
        lo = c0 * T
        dec, inp_, x_, st = decay[:, :, :m], inp[:, :, :m], x[:, :m], starts[:, :m]
        dl = dl_all[lo:lo + m * T].unflatten(0, (m, T)).permute(1, 2, 0, 3).contiguous()   # (T, B, M, D)
        dut = du_all[lo:lo + m * T].unflatten(0, (m, T)).permute(1, 2, 0, 3).contiguous()
        torch.mul(dl[:, :, :, None, :], At, out=dec)                                # (T, B, M, N, D)
        dec.exp_()
        if Bt_const is not None:
            torch.mul(dut[:, :, :, None, :], Bt_const, out=inp_)
        else:
            _mul_groups(dut, _tile_view(Bm, lo, m, T).permute(0, 1, 4, 3, 2), inp_)
        x_.copy_(inp_[0])                                                           # pass 1: local end states
        for j in range(1, T):
            torch.addcmul(inp_[j], dec[j], x_, out=x_)
        total = torch.exp(dl.sum(0)[:, :, None, :] * At)                            # (B, M, N, D) chunk decays
        for c in range(m):                                                          # pass 2: true start states
            st[:, c].copy_(h)
            torch.addcmul(x_[:, c], total[:, c], h, out=h)
        prev = st                                                                   # pass 3: states over inp
        for j in range(T):
            inp_[j].addcmul_(dec[j], prev)
            prev = inp_[j]
        y = out[lo:lo + m * T].view(m, T, b, d).permute(1, 2, 0, 3)                 # (T, B, M, D) view
        if Ct_const is not None:                                                    # y_t = Σ_n C x_t
            torch.mul(inp_, Ct_const, out=dec)
            y.copy_(dec.sum(3))
        elif Cm.shape[1] == 1:                                                      # (T, B, M, 1, N) @ (.., N, D)
            Ct = _tile_view(Cm[:, 0], lo, m, T).permute(0, 1, 3, 2)                 # (T, B, M, N)
            y.copy_(torch.matmul(Ct.unsqueeze(-2), inp_).squeeze(-2))
        else:
            _mul_groups(inp_, _tile_view(Cm, lo, m, T).permute(0, 1, 4, 3, 2), dec)
            y.copy_(dec.sum(3))
    return out[:L].permute(1, 2, 0), h.transpose(1, 2)


def _mul_groups(v: torch.Tensor, g: torch.Tensor, out: torch.Tensor) -> None:
    """out (..., N, D) = v * g with v (..., D) or (..., N, D) and a per-time group tensor g (..., N, G)."""
    grp = g.shape[-1]
    vv = v[..., None, :] if v.dim() == out.dim() - 1 else v
    torch.mul(vv.unflatten(-1, (grp, -1)), g[..., None], out=out.unflatten(-1, (grp, -1)))
