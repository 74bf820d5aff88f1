"""Upsampling layers vs torch references: bilinear transposed conv = F.interpolate at init."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from danlu.errors import DanluError
from danlu.vision.upsample import (
    BilinearConvTranspose2d,
    PixelShuffleUpsample,
    ResizeConv,
    bilinear_kernel,
    bilinear_padding,
    icnr_,
    init_bilinear_,
)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bilinear_transposed_conv_equals_interpolate_on_interior(scale: int) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 7)
    up = BilinearConvTranspose2d(3, scale)
    ref = F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)
    out = up(x)
    assert out.shape == ref.shape == (2, 3, 9 * scale, 7 * scale)
    b = scale  # the border where interpolate clamps and the transposed conv zero-pads
    torch.testing.assert_close(out[..., b:-b, b:-b], ref[..., b:-b, b:-b], atol=1e-5, rtol=0)
    # the border does differ: the test would notice a crop that hid a real mismatch
    assert (out - ref).abs().max() > 1e-3


def test_init_bilinear_on_plain_conv_transpose() -> None:
    k, s, p = bilinear_padding(2)
    conv = init_bilinear_(nn.ConvTranspose2d(4, 4, k, stride=s, padding=p))
    x = torch.randn(1, 4, 6, 6)
    ref = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    torch.testing.assert_close(conv(x)[..., 2:-2, 2:-2], ref[..., 2:-2, 2:-2], atol=1e-5, rtol=0)


def test_bilinear_kernel_values_and_channels() -> None:
    w = bilinear_kernel(3, 2, 4)
    assert w.shape == (3, 2, 4, 4)
    tri = torch.tensor([0.25, 0.75, 0.75, 0.25])
    torch.testing.assert_close(w[1, 1], tri[:, None] * tri[None, :])
    assert w[0, 1].abs().sum() == 0 and w[2].abs().sum() == 0  # off-diagonal channels are zero
    tri3 = torch.tensor([0.5, 1.0, 0.5])
    torch.testing.assert_close(bilinear_kernel(1, 1, 3)[0, 0], tri3[:, None] * tri3[None, :])


def test_gradients_flow_through_bilinear_upsampler() -> None:
    up = BilinearConvTranspose2d(2, 2)
    x = torch.randn(1, 2, 5, 5, requires_grad=True)
    up(x).square().sum().backward()
    assert up.weight.grad is not None and up.weight.grad.abs().sum() > 0


def test_icnr_makes_pixelshuffle_equal_nearest_upsampling_of_a_conv() -> None:
    torch.manual_seed(1)
    layer = PixelShuffleUpsample(3, 5, scale=2)
    x = torch.randn(2, 3, 6, 6)
    # every sub-pixel copies the first sub-kernel: equal to nearest upsampling of that conv
    sub = nn.Conv2d(3, 5, 3, padding=1)
    sub.weight.data = layer.conv.weight.data[::4].clone()
    sub.bias.data = layer.conv.bias.data[::4].clone()
    ref = F.interpolate(sub(x), scale_factor=2, mode="nearest")
    torch.testing.assert_close(layer(x), ref, atol=1e-5, rtol=1e-5)
    # without ICNR the sub-pixels differ (the test can fail)
    plain = PixelShuffleUpsample(3, 5, scale=2, icnr=False)
    out = plain(x)
    assert (out[..., ::2, ::2] - out[..., 1::2, 1::2]).abs().max() > 1e-3


def test_resize_conv_shapes_and_modes() -> None:
    x = torch.randn(1, 2, 4, 5)
    for mode in ("nearest", "bilinear"):
        assert ResizeConv(2, 3, scale=3, mode=mode)(x).shape == (1, 3, 12, 15)


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(DanluError, match="kernel_size"):
        bilinear_kernel(1, 1, 0)
    with pytest.raises(DanluError, match="mode"):
        ResizeConv(1, 1, mode="bicubic")
    with pytest.raises(DanluError, match="divisible"):
        icnr_(torch.empty(6, 1, 3, 3), scale=2)
    with pytest.raises(DanluError, match="in_channels == out_channels"):
        init_bilinear_(nn.ConvTranspose2d(2, 3, 4, stride=2, padding=1))
