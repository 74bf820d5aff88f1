"""Integer kernels of the runtime: int64 tensors in, int64 tensors out, no floating point.

``int_conv2d`` is an explicit im2col (``Tensor.unfold``) followed by an integer matrix product;
``int_linear`` is the integer matrix product. Inputs are already zero-point-shifted codes
``q - Z`` so that zero padding pads with the real value 0 (the paper's eq. 7-8 with the zero
point subtracted first, which is what its eq. 9-10 compute more cheaply).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def int_linear(x: Tensor, w: Tensor) -> Tensor:
    """(B, K) int64 @ (N, K)^T int64 -> (B, N) int64 accumulator."""
    return x @ w.t()


def int_conv2d(x: Tensor, w: Tensor, stride: tuple[int, int], padding: tuple[int, int]) -> Tensor:
    """(B, C, H, W) int64 with (N, C, kh, kw) int64 -> (B, N, H', W') int64 accumulator (groups=1)."""
    b = x.shape[0]
    n, c, kh, kw = w.shape
    if padding != (0, 0):
        x = F.pad(x, (padding[1], padding[1], padding[0], padding[0]), value=0)
    patches = x.unfold(2, kh, stride[0]).unfold(3, kw, stride[1])  # (B, C, H', W', kh, kw)
    ho, wo = patches.shape[2], patches.shape[3]
    cols = patches.permute(0, 2, 3, 1, 4, 5).reshape(b * ho * wo, c * kh * kw)
    out = cols @ w.reshape(n, -1).t()  # (B*H'*W', N)
    return out.reshape(b, ho, wo, n).permute(0, 3, 1, 2).contiguous()


def int_max_pool2d(q: Tensor, kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                   pad_value: int) -> Tensor:
    """Max-pool on codes (order-preserving since scales are positive); padding uses the smallest code."""
    if padding != (0, 0):
        q = F.pad(q, (padding[1], padding[1], padding[0], padding[0]), value=pad_value)
    return q.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1]).amax(dim=(-1, -2))
