"""Integer kernels of the runtime: int64 tensors in, int64 tensors out, no floating point.

``int_conv2d`` is an explicit im2col (``Tensor.unfold``) followed by an integer matrix product;
``int_linear`` is the integer matrix product. Inputs are already zero-point-shifted codes
``q - Z`` so that zero padding pads with the real value 0 (the paper's eq. 7-8 with the zero
point subtracted first, which is what its eq. 9-10 compute more cheaply).

The matrix product has two backends (``GEMMS``): ``int64`` (the default; torch's integer
matmul, exact, slow on CPU) and ``float64``: the same integers multiplied by BLAS in float64,
which is *exact* while every partial sum stays below 2^53 (an int8 x uint8 product is below
2^16, so any K < 2^37 terms qualifies; checked). Both give identical accumulators (tested);
``float64`` only exists because CPU BLAS has no integer GEMM, and is selected with
``use_gemm("float64")``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from danlu.errors import DanluError

GEMMS = ("int64", "float64")
_state = {"gemm": "int64"}


@contextlib.contextmanager
def use_gemm(name: str) -> Iterator[None]:
    """Select the integer-GEMM backend inside a ``with`` block (``int64`` or exact ``float64``)."""
    if name not in GEMMS:
        raise DanluError(f"unknown integer GEMM backend {name!r}; choose one of {GEMMS}")
    old, _state["gemm"] = _state["gemm"], name
    try:
        yield
    finally:
        _state["gemm"] = old


def int_matmul(a: Tensor, b: Tensor) -> Tensor:
    """(M, K) int64 @ (K, N) int64 -> (M, N) int64, exactly, with the selected backend."""
    if _state["gemm"] == "int64":
        return a @ b
    bound = a.shape[1] * int(a.abs().max()) * int(b.abs().max()) if a.numel() and b.numel() else 0
    if bound >= 2**53:
        raise DanluError(f"float64 GEMM would not be exact: accumulator bound {bound} >= 2^53; use the int64 backend")
    return (a.double() @ b.double()).to(torch.int64)


def int_linear(x: Tensor, w: Tensor) -> Tensor:
    """(B, K) int64 @ (N, K)^T int64 -> (B, N) int64 accumulator."""
    return int_matmul(x, w.t())


def int_conv2d(x: Tensor, w: Tensor, stride: tuple[int, int], padding: tuple[int, int]) -> Tensor:
    """(B, C, H, W) int64 with (N, C, kh, kw) int64 -> (B, N, H', W') int64 accumulator (groups=1)."""
    b = x.shape[0]
    n, c, kh, kw = w.shape
    if padding != (0, 0):
        x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=0)
    patches = x.unfold(2, kh, stride[0]).unfold(3, kw, stride[1])  # (B, C, H', W', kh, kw)
    ho, wo = patches.shape[2], patches.shape[3]
    cols = patches.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)
    out = int_matmul(cols, w.reshape(n, -1).t())  # (B*H'*W', N)
    return out.reshape(b, ho, wo, n).permute(0, 3, 1, 2).contiguous()


def int_max_pool2d(q: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                   pad_value: int) -> Tensor:
    """Max-pool on codes (order-preserving since scales are positive); padding uses the smallest code."""
    if padding != (0, 0):
        q = F.pad(q, (padding[1], padding[1], padding[0], padding[0]), value=pad_value)
    return q.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1]).amax(dim=(-1, -2))
