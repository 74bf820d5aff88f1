"""``selective_scan``: Mamba's input-dependent SSM scan, one API over three backends.

Semantics and shapes of mamba_ssm's ``selective_scan_fn`` (its pure-torch ``selective_scan_ref``
is the semantic reference; Gu & Dao, "Mamba", arXiv:2312.00752). Backends (registry
:data:`SCAN_BACKENDS`):

* ``"sequential"``: one step per loop iteration (:mod:`.reference`), the readable reference;
* ``"chunked"``: chunks advance together in cache-sized tiles (:mod:`.chunked`), pure torch, CPU
  and GPU, equal to ``sequential`` to rounding in float64; autograd gives every gradient;
* ``"triton"``: fused forward and backward kernels (:mod:`.triton`), fp32 state, fp16/bf16/fp32
  inputs, CUDA (or CPU under ``TRITON_INTERPRET=1``);
* ``"auto"``: triton for CUDA tensors it supports (fp16/bf16/fp32, N <= 256), else chunked.

Complex ``A`` (S4D-Lin style) is refused with a clear error: danlu's scan is real-valued.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from danlu.errors import DanluError
from danlu.kernels.selective_scan._inputs import check, finish, prepare
from danlu.kernels.selective_scan.chunked import scan_chunked
from danlu.kernels.selective_scan.reference import scan_sequential
from danlu.registry import Registry

Result = tuple[torch.Tensor, torch.Tensor]
#: name -> fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus) -> (out (B, D, L), last state (B, D, N))
SCAN_BACKENDS: Registry[Callable[..., Result]] = Registry("selective_scan backend")


def _torch_backend(core: Callable[..., Result]) -> Callable[..., Result]:
    def run(u, delta, A, B, C, D, z, delta_bias, delta_softplus) -> Result:
        s = prepare(u, delta, A, B, C, delta_bias, delta_softplus)
        y, last = core(s)
        return finish(y, s, D, z), last
    run.__doc__ = core.__doc__
    return run


SCAN_BACKENDS.register("sequential")(_torch_backend(scan_sequential))
SCAN_BACKENDS.register("chunked")(_torch_backend(scan_chunked))


def _load_triton() -> tuple[Callable[..., Result], Callable[..., str | None]] | None:
    try:
        from danlu.kernels.selective_scan.triton import selective_scan_triton, why_unsupported
    except ImportError:
        return None
    return selective_scan_triton, why_unsupported


@SCAN_BACKENDS.register("triton")
def _triton(u, delta, A, B, C, D, z, delta_bias, delta_softplus) -> Result:
    loaded = _load_triton()
    if loaded is None:
        raise DanluError("selective_scan: backend 'triton' is unavailable (triton failed to import); "
                         "use backend='chunked' or 'auto'")
    return loaded[0](u, delta, A, B, C, D, z, delta_bias, delta_softplus)


def _auto(u: torch.Tensor, A: torch.Tensor) -> str:
    """triton for CUDA tensors it supports (fp16/bf16/fp32, N <= 256), else chunked."""
    if u.is_cuda:
        loaded = _load_triton()
        if loaded is not None and loaded[1](u, A) is None:
            return "triton"
    return "chunked"


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, z: torch.Tensor | None = None,
                   delta_bias: torch.Tensor | None = None, delta_softplus: bool = False,
                   return_last_state: bool = False,
                   backend: str = "auto") -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Selective scan ``x_t = exp(Δ_t A) x_{t-1} + Δ_t B_t u_t``, ``y_t = C_t x_t + D u_t``, gated by silu(z).

    Args:
        u: (B, D, L) input.
        delta: (B, D, L) step sizes Δ (before ``delta_bias`` and softplus).
        A: (D, N) real state matrix (diagonal per channel; negative for a stable scan).
        B: (D, N) time-invariant, (B, N, L) per time, or (B, G, N, L) per time and group (D % G == 0).
        C: like B.
        D: (D,) skip connection, or None.
        z: (B, D, L) gate: the output is multiplied by silu(z); or None.
        delta_bias: (D,) added to delta before softplus; or None.
        delta_softplus: apply softplus to delta.
        return_last_state: also return x_L (B, D, N), in float32 (float64 for float64 inputs).
        backend: ``auto``, ``sequential``, ``chunked`` or ``triton`` (see :data:`SCAN_BACKENDS`).

    Returns:
        out (B, D, L) in u's dtype, or ``(out, last_state)``.

    Raises:
        DanluError: mismatched shapes (naming both tensors), complex or integer tensors, L = 0,
            an unknown backend, triton on a device it cannot run on.
    """
    check(u, delta, A, B, C, D, z, delta_bias)
    name = _auto(u, A) if backend == "auto" else backend
    out, last = SCAN_BACKENDS.get(name)(u, delta, A, B, C, D, z, delta_bias, bool(delta_softplus))
    return (out, last) if return_last_state else out


__all__ = ["SCAN_BACKENDS", "selective_scan"]
