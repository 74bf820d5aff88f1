"""S4D: the diagonal structured state space, its convolution kernel and a layer.

Gu, Gupta, Goel, Ré, "On the Parameterization and Initialization of Diagonal State Space Models"
(S4D, arXiv:2206.11893). Per channel h, a complex diagonal SSM with N/2 conjugate pairs,
x' = A x + B u, y = 2 Re(C x) + D u, discretised by zero-order hold with step dt_h:

    Ā = exp(dt A),  B̄ = (exp(dt A) - 1) / A · B,   K_l = 2 Re Σ_n C_n B̄_n Ā_n^l   (Vandermonde)

and the layer computes y = K * u (causal convolution) by FFT in O(L log L). B is folded into C
(the paper's S4D-Lin/Inv kernels use B = 1 at init). :func:`s4d_recurrence` is the same system run
step by step, the form the convolution must equal.

Initialisations (registry :data:`S4D_INITS`), n = 0..N/2-1:
* ``lin``: A_n = -1/2 + i π n;   * ``inv``: A_n = -1/2 + i (N/π)(N/(2n+1) - 1);
* ``real``: A_n = -(n + 1) (no imaginary part).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.registry import Registry

S4D_INITS: Registry[Callable[[int], torch.Tensor]] = Registry("S4D initialisation")


@S4D_INITS.register("lin")
def s4d_lin(n_half: int) -> torch.Tensor:
    """S4D-Lin: A_n = -1/2 + iπn, (n_half,) complex128."""
    n = torch.arange(n_half, dtype=torch.float64)
    return torch.complex(torch.full_like(n, -0.5), math.pi * n)


@S4D_INITS.register("inv")
def s4d_inv(n_half: int) -> torch.Tensor:
    """S4D-Inv: A_n = -1/2 + i (N/π)(N/(2n+1) - 1) with N = 2 n_half, (n_half,) complex128."""
    N = 2 * n_half
    n = torch.arange(n_half, dtype=torch.float64)
    return torch.complex(torch.full_like(n, -0.5), N / math.pi * (N / (2 * n + 1) - 1))


@S4D_INITS.register("real")
def s4d_real(n_half: int) -> torch.Tensor:
    """S4D-Real: A_n = -(n+1), (n_half,) complex128 with zero imaginary part."""
    n = torch.arange(n_half, dtype=torch.float64)
    return torch.complex(-(n + 1), torch.zeros_like(n))


def s4d_kernel(dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor, L: int) -> torch.Tensor:
    """ZOH S4D convolution kernel by a Vandermonde product.

    Args:
        dt: (H,) positive steps; A: (H, N/2) complex, Re < 0; C: (H, N/2) complex (B folded in).
        L: kernel length.
    Returns:
        K (H, L) real: K_l = 2 Re Σ_n C_n (exp(dt A_n) - 1)/A_n exp(dt A_n l).
    """
    dtA = dt[:, None] * A                                                           # (H, N/2)
    coef = C * (torch.exp(dtA) - 1) / A                                             # (H, N/2)
    l = torch.arange(L, device=A.device, dtype=dt.dtype)
    vander = torch.exp(dtA[..., None] * l)                                          # (H, N/2, L)
    return 2 * torch.einsum("hn,hnl->hl", coef, vander).real


def fft_conv(u: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Causal convolution y_t = Σ_{s<=t} K_{t-s} u_s by FFT. u: (B, H, L); K: (H, L) -> (B, H, L).

    A kernel of length 2L (bidirectional) is centred: K[:, L:] acts on the future (anti-causal part).
    """
    L = u.shape[-1]
    n = 2 * L
    y = torch.fft.irfft(torch.fft.rfft(u, n=n) * torch.fft.rfft(K, n=n), n=n)      # (B, H, 2L)
    return y[..., :L] if K.shape[-1] == L else y[..., L:2 * L]


def s4d_recurrence(u: torch.Tensor, dt: torch.Tensor, A: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """The same SSM step by step: x_k = Ā x_{k-1} + B̄ u_k, y_k = 2 Re(C x_k). u: (B, H, L) -> (B, H, L)."""
    dtA = dt[:, None] * A
    Abar, Bbar = torch.exp(dtA), (torch.exp(dtA) - 1) / A                          # (H, N/2)
    x = torch.zeros(u.shape[0], *A.shape, dtype=A.dtype, device=u.device)          # (B, H, N/2)
    ys = []
    for k in range(u.shape[-1]):
        x = Abar * x + Bbar * u[..., k, None]
        ys.append(2 * (x * C).sum(-1).real)
    return torch.stack(ys, -1)


class S4DKernel(nn.Module):
    """Trainable S4D kernel parameters for H channels: log dt, log(-Re A), Im A, C (complex).

    Args:
        d_model: H channels; d_state: N (even; N/2 complex modes); init: a name in :data:`S4D_INITS`;
        dt_min, dt_max: log-uniform range of the initial steps; seed: for dt and C.
    """

    def __init__(self, d_model: int, d_state: int = 64, init: str = "inv", dt_min: float = 1e-3,
                 dt_max: float = 1e-1, seed: int = 0) -> None:
        super().__init__()
        if d_state < 2 or d_state % 2:
            raise DanluError(f"S4D: d_state must be an even int >= 2 (N/2 conjugate pairs), got {d_state}")
        g = torch.Generator().manual_seed(seed)
        A = S4D_INITS.get(init)(d_state // 2).expand(d_model, -1)                  # (H, N/2)
        log_dt = torch.rand(d_model, generator=g, dtype=torch.float64) * (math.log(dt_max) - math.log(dt_min)) \
            + math.log(dt_min)
        C = torch.randn(d_model, d_state // 2, 2, generator=g, dtype=torch.float64) * 0.5 ** 0.5
        self.log_dt = nn.Parameter(log_dt.float())
        self.log_A_real = nn.Parameter(torch.log(-A.real).float().clone())
        self.A_imag = nn.Parameter(A.imag.float().clone())
        self.C = nn.Parameter(C.float())

    def params(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(dt (H,), A (H, N/2) complex, C (H, N/2) complex)."""
        A = torch.complex(-torch.exp(self.log_A_real), self.A_imag)
        return torch.exp(self.log_dt), A, torch.view_as_complex(self.C.contiguous())

    def forward(self, L: int) -> torch.Tensor:
        """K (H, L)."""
        return s4d_kernel(*self.params(), L)


class S4D(nn.Module):
    """S4D layer: y = GLU(W · Dropout(GELU(K * u + D u))) over (B, L, H) inputs.

    Args:
        d_model: H; d_state: N; init: ``inv``/``lin``/``real``;
        bidirectional: a second kernel runs backwards in time (the output at t then sees the future);
        dropout: on the activations; seed: parameter initialisation.
    Shapes:
        forward: x (B, L, H) -> (B, L, H).
    """

    def __init__(self, d_model: int, d_state: int = 64, init: str = "inv", bidirectional: bool = False,
                 dropout: float = 0.0, dt_min: float = 1e-3, dt_max: float = 1e-1, seed: int = 0) -> None:
        super().__init__()
        self.d_model, self.bidirectional = d_model, bidirectional
        self.kernel = S4DKernel(d_model, d_state, init, dt_min, dt_max, seed)
        self.kernel_back = S4DKernel(d_model, d_state, init, dt_min, dt_max, seed + 1) if bidirectional else None
        self.D = nn.Parameter(torch.randn(d_model, generator=torch.Generator().manual_seed(seed)))
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(d_model, 2 * d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise DanluError(f"S4D: input must be (B, L, H={self.d_model}), got {tuple(x.shape)}")
        u = x.transpose(1, 2)                                                       # (B, H, L)
        L = u.shape[-1]
        K = self.kernel(L).to(u.dtype)                                              # (H, L)
        if self.kernel_back is not None:                                            # (H, 2L): past | future
            Kb = self.kernel_back(L).to(u.dtype)
            K = F.pad(K, (L, 0)) + F.pad(Kb.flip(-1), (0, L))                        # lag j at index L + j
        y = fft_conv(u, K) + u * self.D[:, None]
        y = self.dropout(F.gelu(y)).transpose(1, 2)                                 # (B, L, H)
        return F.glu(self.out(y), dim=-1)
