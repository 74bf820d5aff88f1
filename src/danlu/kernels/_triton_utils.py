"""Shared helpers for danlu's Triton kernels: device/dtype checks, the interpreter switch, one dot helper.

Importing this module imports Triton; the dispatchers import the ``triton.py`` backends lazily, so
``import danlu`` never does.

Interpreter mode (``TRITON_INTERPRET=1``, read by Triton when a kernel is *decorated*, i.e. when
this module's importers are first imported) runs the same kernels on CPU tensors with numpy.
Triton 3.9's interpreter stores bfloat16 as raw ``uint16`` and its ``tl.dot`` multiplies those raw
bits (measured: a 32x32 bf16 ``tl.dot`` came out wrong by ~5e10). :func:`mma` therefore upcasts
the operands to fp32 when the kernel is told to (``UPCAST``, set only under the interpreter).
bf16/fp16 products are exact in fp32 and tensor cores accumulate in fp32, so the interpreter then
computes what the GPU computes, up to summation order.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

import torch
import triton
import triton.language as tl

#: True when Triton runs kernels in its numpy interpreter (decided at import, like Triton itself).
INTERPRET: bool = os.environ.get("TRITON_INTERPRET", "0").strip().lower() in {"1", "true", "yes", "on"}

#: dtypes the tensor-core kernels accept. fp32 is refused (see docs/kernels_gpu.md): tl.dot on fp32
#: runs in TF32 on GPUs, which would silently change precision; the reference backend is exact.
SUPPORTED_DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16)

#: Environment variable that limits autotuning to each kernel's first config (tests, CI, quick checks):
#: ``DANLU_TRITON_TUNE=first``. Unset (or ``full``) tunes over the whole list. Read at each launcher build.
TUNE_ENV = "DANLU_TRITON_TUNE"

#: Largest grid axis-1 size (CUDA limit); we put batch x heads on that axis.
MAX_GRID_Y = 65535


@triton.jit
def mma(a, b, acc, UPCAST: tl.constexpr):
    """``acc + a @ b`` on tensor cores; with ``UPCAST`` the operands go through fp32 (interpreter)."""
    if UPCAST:
        acc = tl.dot(a.to(tl.float32), b.to(tl.float32), acc)
    else:
        acc = tl.dot(a, b, acc)
    return acc


def tune_configs(configs: list) -> list:
    """The autotune configs to use: all of them, or only the first when ``DANLU_TRITON_TUNE=first``.

    The first config of every list is a safe default (it compiles and fits shared memory on sm_90),
    so limiting tuning changes speed only, never results beyond summation order.
    """
    mode = os.environ.get(TUNE_ENV, "full").strip().lower()
    if mode not in {"full", "first"}:
        from danlu.errors import DanluError

        raise DanluError(f"{TUNE_ENV} must be 'full' or 'first', got {mode!r}")
    return list(configs[:1]) if mode == "first" else list(configs)


def device_ok(t: torch.Tensor) -> bool:
    """True if Triton can run on ``t``'s device: CUDA, or CPU under the interpreter."""
    return t.is_cuda or (INTERPRET and t.device.type == "cpu")


def block_dim(d: int) -> int:
    """Tile width for a feature dimension ``d``: next power of two, at least 16 (``tl.dot`` minimum)."""
    return max(16, triton.next_power_of_2(d))


def upcast_flag(dtype: torch.dtype) -> bool:
    """Whether :func:`mma` must upcast (bf16 under the interpreter, see the module docstring)."""
    return INTERPRET and dtype == torch.bfloat16


def why_unsupported(tensors: Mapping[str, torch.Tensor], *, max_dim: int = 128) -> str | None:
    """Reason these tensors do not have a shape the Triton kernels take, or None if they do.

    Checks: every tensor is 4-D ``(B, H, N, D)``, all on one device with one dtype, ``B`` and ``H``
    equal, ``N >= 1``, ``1 <= D <= max_dim`` and ``B * H <= 65535``. Whether Triton can run on that
    device and dtype is :func:`why_not_runnable` (checked last, so shape errors are named first).
    """
    items = list(tensors.items())
    for name, t in items:
        if not isinstance(t, torch.Tensor):
            return f"{name} must be a torch.Tensor, got {type(t).__name__}"
        if t.dim() != 4:
            return f"{name} must be 4-D (B, H, N, D), got shape {tuple(t.shape)}"
    name0, t0 = items[0]
    for name, t in items[1:]:
        if t.device != t0.device:
            return f"{name} is on {t.device} but {name0} is on {t0.device}; put all inputs on one device"
        if t.dtype != t0.dtype:
            return f"{name} has dtype {t.dtype} but {name0} has {t0.dtype}; use one dtype"
        if t.shape[:2] != t0.shape[:2]:
            return f"{name} has (B, H) = {tuple(t.shape[:2])} but {name0} has {tuple(t0.shape[:2])}"
    for name, t in items:
        if t.shape[2] < 1:
            return f"{name} has N = 0 tokens; expected at least 1"
        if t.shape[3] > max_dim or t.shape[3] < 1:
            return f"{name} has last dimension {t.shape[3]}; the Triton backend supports 1..{max_dim}"
    if t0.shape[0] * t0.shape[1] > MAX_GRID_Y:
        return f"B*H = {t0.shape[0] * t0.shape[1]} exceeds {MAX_GRID_Y}; split the batch"
    return None


def why_not_runnable(t: torch.Tensor) -> str | None:
    """Reason Triton cannot run on ``t``'s dtype or device (fp32, plain CPU), or None."""
    if t.dtype not in SUPPORTED_DTYPES:
        return (f"dtype {t.dtype} is not supported by the Triton backend (expected float16 or bfloat16); "
                "cast the inputs or use backend='reference'")
    if not device_ok(t):
        return (f"inputs are on {t.device}; the Triton backend needs CUDA tensors "
                "(or CPU tensors with TRITON_INTERPRET=1 set before danlu's Triton modules are imported)")
    return None


@contextlib.contextmanager
def device_guard(t: torch.Tensor) -> Iterator[None]:
    """Make ``t``'s CUDA device current while launching (Triton launches on the current device)."""
    if t.is_cuda:
        with torch.cuda.device(t.device):
            yield
    else:
        yield


def strides(t: torch.Tensor) -> tuple[int, int, int, int]:
    """The four strides of a ``(B, H, N, D)`` tensor, in elements (non-contiguous inputs are fine)."""
    s = t.stride()
    return s[0], s[1], s[2], s[3]
