"""Discretising a continuous linear system x' = A x + B u with step dt (a registry of rules).

The rules of the HiPPO and S4 papers (Gu et al., arXiv:2008.07669 §4 and arXiv:2111.00396 §2.3);
each returns (A_d, B_d) with x_{k+1} = A_d x_k + B_d u_k:

* ``forward_euler``: A_d = I + dt A,            B_d = dt B
* ``backward_euler``: A_d = (I - dt A)^-1,       B_d = (I - dt A)^-1 dt B
* ``bilinear`` (Tustin, GBT α = 1/2): A_d = (I - dt/2 A)^-1 (I + dt/2 A),  B_d = (I - dt/2 A)^-1 dt B
* ``zoh`` (zero-order hold): A_d = exp(dt A),  B_d = A^-1 (exp(dt A) - I) B, computed through the
  block-matrix exponential exp([[A, B], [0, 0]] dt), so singular A is fine.

These match ``scipy.signal.cont2discrete`` (``euler``, ``backward_diff``, ``bilinear``, ``zoh``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from danlu.errors import DanluError
from danlu.registry import Registry

Discretizer = Callable[[torch.Tensor, torch.Tensor, float], tuple[torch.Tensor, torch.Tensor]]
DISCRETIZATIONS: Registry[Discretizer] = Registry("discretization")


def _eye(A: torch.Tensor) -> torch.Tensor:
    return torch.eye(A.shape[-1], dtype=A.dtype, device=A.device).expand_as(A)


@DISCRETIZATIONS.register("forward_euler")
def forward_euler(A: torch.Tensor, B: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A_d = I + dt A, B_d = dt B."""
    return _eye(A) + dt * A, dt * B


@DISCRETIZATIONS.register("backward_euler")
def backward_euler(A: torch.Tensor, B: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """A_d = (I - dt A)^-1, B_d = (I - dt A)^-1 dt B."""
    inv = torch.linalg.inv(_eye(A) - dt * A)
    return inv, inv @ (dt * B)


@DISCRETIZATIONS.register("bilinear")
def bilinear(A: torch.Tensor, B: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Tustin: A_d = (I - dt/2 A)^-1 (I + dt/2 A), B_d = (I - dt/2 A)^-1 dt B."""
    eye = _eye(A)
    inv = torch.linalg.inv(eye - dt / 2 * A)
    return inv @ (eye + dt / 2 * A), inv @ (dt * B)


@DISCRETIZATIONS.register("zoh")
def zoh(A: torch.Tensor, B: torch.Tensor, dt: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold via exp([[A, B], [0, 0]] dt) = [[A_d, B_d], [0, I]]."""
    n, m = A.shape[-1], B.shape[-1]
    top = torch.cat([A, B], -1)                                                     # (..., n, n+m)
    bottom = torch.zeros(*A.shape[:-2], m, n + m, dtype=A.dtype, device=A.device)
    E = torch.linalg.matrix_exp(torch.cat([top, bottom], -2) * dt)                 # (..., n+m, n+m)
    return E[..., :n, :n], E[..., :n, n:]


def discretize(A: torch.Tensor, B: torch.Tensor, dt: float, method: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Discretise x' = A x + B u. A: (..., N, N); B: (..., N, M) (a (N,) B is taken as one column).

    Returns:
        (A_d (..., N, N), B_d like B).
    """
    if A.dim() < 2 or A.shape[-1] != A.shape[-2]:
        raise DanluError(f"discretize: A must be square (..., N, N), got {tuple(A.shape)}")
    vec = B.dim() == A.dim() - 1
    Bm = B.unsqueeze(-1) if vec else B
    if Bm.shape[-2] != A.shape[-1]:
        raise DanluError(f"discretize: B {tuple(B.shape)} must have N = {A.shape[-1]} rows to match A {tuple(A.shape)}")
    if not (isinstance(dt, (int, float)) and dt > 0):
        raise DanluError(f"discretize: dt must be a positive number, got {dt!r}")
    Ad, Bd = DISCRETIZATIONS.get(method)(A, Bm, float(dt))
    return Ad, (Bd.squeeze(-1) if vec else Bd)
