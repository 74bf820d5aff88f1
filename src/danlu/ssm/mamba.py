"""The Mamba block: gated selective SSM with a causal depthwise convolution, and O(1)-per-token decoding.

Gu & Dao, "Mamba: Linear-Time Sequence Modeling with Selective State Spaces" (arXiv:2312.00752,
§3.4 and Fig. 3; mamba_ssm ``Mamba``). For x (B, L, d_model), with E = expand, d_inner = E d_model:

    [u, z] = in_proj(x)                         (B, L, 2 d_inner)
    u = silu(causal depthwise conv1d(u))        kernel d_conv
    [dt, B, C] = x_proj(u)                      dt_rank + 2 N
    Δ = softplus(dt_proj(dt))                   (bias = delta_bias, inverse-softplus initialised)
    y = selective_scan(u, Δ, A = -exp(A_log), B, C, D, z)   (SiLU gate on z inside the scan)
    out = out_proj(y)

:meth:`Mamba.step` runs one token with a (conv window, SSM state) cache, so generation costs O(1)
per token; its outputs equal :meth:`Mamba.forward` on the whole prefix (tested).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.kernels.selective_scan import selective_scan


@dataclass
class MambaCache:
    """Decoding state of one block: conv window (B, d_inner, d_conv) and SSM state (B, d_inner, N), float32."""

    conv: torch.Tensor
    ssm: torch.Tensor


class Mamba(nn.Module):
    """Mamba block (selective SSM mixer). x (B, L, d_model) -> (B, L, d_model).

    Args:
        d_model: model width; d_state: N; d_conv: depthwise conv kernel; expand: E;
        dt_rank: rank of Δ's projection (``None`` = ceil(d_model / 16));
        dt_min, dt_max: log-uniform range of the initial Δ; backend: selective_scan backend;
        selective: ``False`` turns selection off (the paper's LTI ablation): Δ = softplus(bias) per
            channel and B, C learned (d_inner, N) parameters, independent of the input; the block is
            then a gated S4D-Real SSM of the same width and state;
        seed: parameter initialisation.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | None = None, dt_min: float = 1e-3, dt_max: float = 1e-1,
                 backend: str = "auto", selective: bool = True, seed: int = 0) -> None:
        super().__init__()
        for name, v in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand)):
            if not isinstance(v, int) or v < 1:
                raise DanluError(f"Mamba: {name} must be a positive int, got {v!r}")
        g = torch.Generator().manual_seed(seed)
        self.d_model, self.d_state, self.d_conv = d_model, d_state, d_conv
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        self.backend, self.selective = backend, selective
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
            self.conv1d = nn.Conv1d(self.d_inner, self.d_inner, d_conv, groups=self.d_inner, padding=d_conv - 1)
            self.x_proj = nn.Linear(self.d_inner, self.dt_rank + 2 * d_state, bias=False)
            self.dt_proj = nn.Linear(self.dt_rank, self.d_inner, bias=True)
            self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        std = self.dt_rank ** -0.5
        with torch.no_grad():
            self.dt_proj.weight.uniform_(-std, std, generator=g)
            dt = torch.exp(torch.rand(self.d_inner, generator=g) * (math.log(dt_max) - math.log(dt_min))
                           + math.log(dt_min)).clamp_min(1e-4)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))              # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(self.d_inner, 1))
        self.D = nn.Parameter(torch.ones(self.d_inner))
        if not selective:                                                           # LTI: B, C fixed over time
            self.B_lti = nn.Parameter(torch.randn(self.d_inner, d_state, generator=g) * d_state ** -0.5)
            self.C_lti = nn.Parameter(torch.randn(self.d_inner, d_state, generator=g) * d_state ** -0.5)

    def _check(self, x: torch.Tensor, dims: int) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != dims or x.shape[-1] != self.d_model:
            want = "(B, L, d_model)" if dims == 3 else "(B, d_model)"
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise DanluError(f"Mamba: input must be {want} with d_model = {self.d_model}, got {got}")

    def _ssm_params(self, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """u (..., d_inner) -> Δ before bias (..., d_inner), B (..., N), C (..., N)."""
        if not self.selective:
            zero = u.new_zeros(u.shape)
            return zero, self.B_lti.expand(*u.shape[:-1], -1, -1), self.C_lti.expand(*u.shape[:-1], -1, -1)
        dt, B, C = self.x_proj(u).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        return F.linear(dt, self.dt_proj.weight), B, C

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check(x, 3)
        L = x.shape[1]
        u, z = self.in_proj(x).chunk(2, dim=-1)                                     # (B, L, d_inner) each
        u = F.silu(self.conv1d(u.transpose(1, 2))[..., :L])                          # (B, d_inner, L)
        delta, B, C = self._ssm_params(u.transpose(1, 2))                           # (B, L, ·)
        if self.selective:
            delta, B, C = delta.transpose(1, 2), B.transpose(1, 2), C.transpose(1, 2)   # (B, ·, L)
        else:
            delta, B, C = delta.transpose(1, 2), self.B_lti, self.C_lti                # B, C (d_inner, N)
        y = selective_scan(u, delta, -torch.exp(self.A_log), B, C,
                           self.D, z=z.transpose(1, 2), delta_bias=self.dt_proj.bias, delta_softplus=True,
                           backend=self.backend)                                    # (B, d_inner, L)
        return self.out_proj(y.transpose(1, 2))                                     # (B, L, d_model)

    def _state_dtype(self) -> torch.dtype:
        return torch.float64 if self.A_log.dtype == torch.float64 else torch.float32

    def empty_cache(self, batch: int, device: torch.device | str | None = None) -> MambaCache:
        """A zero cache for ``batch`` sequences (the state before the first token), fp32 (fp64 for fp64 models)."""
        kw = {"device": device or self.A_log.device, "dtype": self._state_dtype()}
        return MambaCache(torch.zeros(batch, self.d_inner, self.d_conv, **kw),
                          torch.zeros(batch, self.d_inner, self.d_state, **kw))

    def step(self, x: torch.Tensor, cache: MambaCache) -> tuple[torch.Tensor, MambaCache]:
        """One token: x (B, d_model) -> (out (B, d_model), new cache). O(1) in the sequence length."""
        self._check(x, 2)
        sd = self._state_dtype()
        u, z = self.in_proj(x).chunk(2, dim=-1)                                     # (B, d_inner)
        window = torch.cat([cache.conv[..., 1:], u.to(sd)[..., None]], -1)           # (B, d_inner, d_conv)
        u = F.silu((window * self.conv1d.weight[:, 0].to(sd)).sum(-1) + self.conv1d.bias.to(sd))
        delta, B, C = self._ssm_params(u.to(x.dtype))
        delta = F.softplus(delta.to(sd) + self.dt_proj.bias.to(sd))                 # (B, d_inner)
        decay = torch.exp(delta[..., None] * -torch.exp(self.A_log.to(sd)))          # (B, d_inner, N)
        if self.selective:
            B, C = B[:, None, :], C[:, None, :]                                     # (B, 1, N)
        state = decay * cache.ssm + (delta * u)[..., None] * B.to(sd)               # (B, d_inner, N)
        y = (state * C.to(sd)).sum(-1) + self.D.to(sd) * u                          # (B, d_inner)
        y = y * F.silu(z.to(sd))
        return self.out_proj(y.to(x.dtype)), MambaCache(window, state)
