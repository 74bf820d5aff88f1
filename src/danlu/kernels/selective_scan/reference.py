"""The sequential selective scan: one time step per loop iteration, the readable reference.

Mamba's selective SSM (Gu & Dao, arXiv:2312.00752, Algorithm 2; mamba_ssm ``selective_scan_ref``),
zero-order-hold on A and Euler on B, per channel d and state n::

    x_t = exp(Δ_t A) x_{t-1} + Δ_t B_t u_t          x: (B, D, N), x_0 = 0
    y_t = C_t · x_t  (+ D u_t) (* silu(z_t))

Every other backend is tested against this one (float64: to rounding).
"""

from __future__ import annotations

import torch

from danlu.kernels.selective_scan._inputs import ScanInputs, channel_mul


def _at(t: torch.Tensor, i: int) -> torch.Tensor:
    """B or C at time i: (D, N) stays, (B, G, N, L) -> (B, G, N)."""
    return t if t.dim() == 2 else t[..., i]


def scan_sequential(s: ScanInputs) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the recurrence step by step.

    Returns:
        y (B, D, L) and the last state x_L (B, D, N), both in the compute dtype.
    """
    b, d, L, n = s.shape
    x = s.u.new_zeros(b, d, n)                                                     # (B, D, N)
    ys = []
    for i in range(L):
        d_i = s.delta[:, :, i, None]                                               # (B, D, 1)
        decay = torch.exp(d_i * s.A)                                               # (B, D, N)
        x = decay * x + channel_mul(d_i * s.u[:, :, i, None], _at(s.B, i))         # (B, D, N)
        ys.append(channel_mul(x, _at(s.C, i)).sum(-1))                             # (B, D)
    return torch.stack(ys, dim=-1), x
