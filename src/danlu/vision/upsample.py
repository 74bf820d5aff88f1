"""Learnable upsampling layers and their initialisations.

* :func:`bilinear_kernel` / :func:`init_bilinear_` / :class:`BilinearConvTranspose2d`: a
  transposed convolution whose weights reproduce bilinear interpolation (Long, Shelhamer &
  Darrell, "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015). With
  ``kernel_size=2*s - s%2``, ``stride=s``, ``padding=s//2`` (:func:`bilinear_padding`), the output at init equals
  ``F.interpolate(x, scale_factor=s, mode="bilinear", align_corners=False)`` away from the border.
* :func:`icnr_` / :class:`PixelShuffleUpsample`: sub-pixel convolution (Shi et al., CVPR 2016)
  with ICNR initialisation (Aitken et al., "Checkerboard artifact free sub-pixel convolution",
  2017): every output sub-pixel starts as a copy, i.e. nearest-neighbour upsampling of a conv.
* :class:`ResizeConv`: nearest or bilinear resize followed by a convolution (Odena, Dumoulin &
  Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).

All layers map ``(N, C_in, H, W) -> (N, C_out, s*H, s*W)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError

__all__ = [
    "BilinearConvTranspose2d",
    "PixelShuffleUpsample",
    "ResizeConv",
    "bilinear_kernel",
    "bilinear_padding",
    "icnr_",
    "init_bilinear_",
]


def _check_positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise DanluError(f"{name} must be a positive integer, got {value!r}")


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> Tensor:
    """Weights ``(in_channels, out_channels, k, k)`` for ``nn.ConvTranspose2d`` = bilinear upsampling.

    Channel ``c`` maps to channel ``c`` only (``min(in, out)`` diagonal pairs, others zero); the
    2-D filter is the outer product of the 1-D triangle ``1 - |i - center| / factor`` with
    ``factor = ceil(k / 2)`` and ``center = factor - 1`` (k odd) or ``factor - 0.5`` (k even),
    the FCN construction.
    """
    _check_positive("in_channels", in_channels)
    _check_positive("out_channels", out_channels)
    _check_positive("kernel_size", kernel_size)
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = torch.arange(kernel_size, dtype=torch.float64)
    tri = 1 - (og - center).abs() / factor
    filt = (tri[:, None] * tri[None, :]).to(torch.float32)
    weight = torch.zeros(in_channels, out_channels, kernel_size, kernel_size)
    idx = torch.arange(min(in_channels, out_channels))
    weight[idx, idx] = filt
    return weight


def bilinear_padding(scale: int) -> tuple[int, int, int]:
    """``(kernel_size, stride, padding)`` for a transposed conv that upsamples by ``scale``.

    ``kernel_size = 2*scale - scale % 2``, ``stride = scale``, ``padding = scale // 2``
    give an output of exactly ``scale * H`` aligned with ``align_corners=False`` bilinear.
    """
    _check_positive("scale", scale)
    kernel = 2 * scale - scale % 2
    return kernel, scale, scale // 2


@torch.no_grad()
def init_bilinear_(conv: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """Set ``conv``'s weights to :func:`bilinear_kernel` (bias to zero) in place; returns ``conv``.

    Requires a square kernel, ``groups == 1`` and ``in_channels == out_channels``.
    """
    if not isinstance(conv, nn.ConvTranspose2d):
        raise DanluError(f"conv must be an nn.ConvTranspose2d, got {type(conv).__name__}")
    kh, kw = conv.kernel_size
    if kh != kw or conv.groups != 1 or conv.in_channels != conv.out_channels:
        raise DanluError(
            "conv must have a square kernel, groups=1 and in_channels == out_channels for "
            f"bilinear init, got kernel {conv.kernel_size}, groups {conv.groups}, "
            f"channels {conv.in_channels}->{conv.out_channels}"
        )
    conv.weight.copy_(bilinear_kernel(conv.in_channels, conv.out_channels, kh))
    if conv.bias is not None:
        conv.bias.zero_()
    return conv


class BilinearConvTranspose2d(nn.ConvTranspose2d):
    """Learnable ``scale``-x upsampling initialised to bilinear interpolation (FCN, 2015).

    Shapes: ``(N, C, H, W) -> (N, C, scale*H, scale*W)``.
    """

    def __init__(self, channels: int, scale: int = 2, bias: bool = False) -> None:
        _check_positive("channels", channels)
        kernel, stride, padding = bilinear_padding(scale)
        super().__init__(channels, channels, kernel, stride=stride, padding=padding, bias=bias)
        self.scale = scale
        init_bilinear_(self)


@torch.no_grad()
def icnr_(weight: Tensor, scale: int, init: nn.Module | None = None) -> Tensor:
    """ICNR init (Aitken et al., 2017) of a conv ``weight (C_out*scale^2, C_in, k, k)`` in place.

    A sub-kernel ``(C_out, C_in, k, k)`` is drawn with Kaiming normal and repeated so that the
    ``scale^2`` outputs feeding each ``nn.PixelShuffle`` block are equal: at init the sub-pixel
    conv equals nearest-neighbour upsampling of one convolution, hence no checkerboard.
    """
    _check_positive("scale", scale)
    out_ch = weight.shape[0]
    r2 = scale * scale
    if out_ch % r2 != 0:
        raise DanluError(
            f"weight.shape[0] must be divisible by scale^2={r2} for ICNR, got {out_ch}"
        )
    sub = torch.empty(out_ch // r2, *weight.shape[1:], dtype=weight.dtype, device=weight.device)
    nn.init.kaiming_normal_(sub)
    weight.copy_(sub.repeat_interleave(r2, dim=0))
    return weight


class PixelShuffleUpsample(nn.Module):
    """Conv to ``C_out*scale^2`` channels, then ``nn.PixelShuffle(scale)``; ICNR init by default.

    Shapes: ``(N, C_in, H, W) -> (N, C_out, scale*H, scale*W)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, scale: int = 2, kernel_size: int = 3,
        icnr: bool = True,
    ) -> None:
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("scale", scale), ("kernel_size", kernel_size)):
            _check_positive(name, v)
        self.conv = nn.Conv2d(in_channels, out_channels * scale * scale, kernel_size,
                              padding=kernel_size // 2)
        if icnr:
            icnr_(self.conv.weight, scale)
            nn.init.zeros_(self.conv.bias)
        self.shuffle = nn.PixelShuffle(scale)

    def forward(self, x: Tensor) -> Tensor:
        return self.shuffle(self.conv(x))


_RESIZE_MODES = ("nearest", "bilinear")


class ResizeConv(nn.Module):
    """``F.interpolate(x, scale, mode)`` then a ``kernel_size`` conv (Odena et al., 2016).

    ``mode`` is ``"nearest"`` or ``"bilinear"`` (``align_corners=False``).
    Shapes: ``(N, C_in, H, W) -> (N, C_out, scale*H, scale*W)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, scale: int = 2, mode: str = "nearest",
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if mode not in _RESIZE_MODES:
            raise DanluError(f"mode must be one of {_RESIZE_MODES}, got {mode!r}")
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels),
                        ("scale", scale), ("kernel_size", kernel_size)):
            _check_positive(name, v)
        self.scale, self.mode = scale, mode
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        kwargs = {"align_corners": False} if self.mode == "bilinear" else {}
        up = F.interpolate(x, scale_factor=self.scale, mode=self.mode, **kwargs)
        return self.conv(up)
