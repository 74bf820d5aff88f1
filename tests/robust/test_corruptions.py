"""The grayscale corruption set: references (closed forms, torch.rot90, torchvision's rotate,
avg-pool pixelation), determinism, monotone severities, and bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError, UnknownNameError
from danlu.robust.corruptions import CATEGORIES, CORRUPTIONS, corrupt, list_corruptions
from danlu.robust.corruptions import gray as G

NAMES = list_corruptions()


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    from danlu.data import load_dataset

    return load_dataset("mnist5k", seed=0).test.tensors[0][:200]  # (200, 1, 28, 28) in [0, 1]


def test_the_set_covers_every_category_with_enough_corruptions():
    assert len(NAMES) >= 15
    for c in CATEGORIES:
        assert list_corruptions(c), c
    assert [CORRUPTIONS.get(n).category for n in NAMES] == sorted(
        (CORRUPTIONS.get(n).category for n in NAMES), key=CATEGORIES.index)


@pytest.mark.parametrize("name", NAMES)
def test_shape_range_determinism_and_seed(digits, name):
    x = digits[:32]
    a = corrupt(x, name, 3, seed=1)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, corrupt(x, name, 3, seed=1))  # deterministic by seed
    assert not torch.equal(a, x)
    assert corrupt(x[0, 0], name, 3, seed=1).shape == (28, 28)  # (H, W) input accepted
    assert corrupt(x[:, 0], name, 2).shape == (32, 28, 28)


@pytest.mark.parametrize("name", NAMES)
def test_severity_increases_the_change(digits, name):
    d = [(corrupt(digits, name, s, seed=0) - digits).abs().mean().item() for s in range(1, 6)]
    assert all(b > a for a, b in zip(d, d[1:])), d


def test_random_corruptions_change_with_the_seed(digits):
    for name in ("gaussian_noise", "rotate", "elastic", "fog", "stripe"):
        assert not torch.equal(corrupt(digits, name, 3, seed=0), corrupt(digits, name, 3, seed=1)), name


def test_the_global_rng_is_untouched(digits):
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    corrupt(digits, "gaussian_noise", 2, seed=5)
    assert torch.equal(torch.rand(3), a)


def test_gaussian_shot_brightness_contrast_equal_their_closed_forms(digits):
    x = digits
    g = torch.Generator().manual_seed(4)
    ref = (x + 0.18 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    assert torch.allclose(corrupt(x, "gaussian_noise", 3, seed=4), ref)
    g = torch.Generator().manual_seed(4)
    assert torch.allclose(corrupt(x, "shot_noise", 2, seed=4), (torch.poisson(x * 25, generator=g) / 25).clamp(0, 1))
    assert torch.allclose(corrupt(x, "brightness", 4), (x + 0.4).clamp(0, 1))
    m = x.mean(dim=(1, 2, 3), keepdim=True)
    assert torch.allclose(corrupt(x, "contrast", 1), ((x - m) * 0.4 + m).clamp(0, 1), atol=1e-6)


def _rotation(n: int, degrees: float) -> torch.Tensor:
    a = math.radians(degrees)
    theta = torch.eye(2, 3).repeat(n, 1, 1)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
    return theta


def test_warp_rotates_like_rot90_and_torchvision(digits):
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.v2.functional import rotate as tv_rotate

    x = digits[:8]
    assert (G.warp(x, _rotation(8, 90)) - torch.rot90(x, 1, dims=(2, 3))).abs().max() < 1e-5
    for deg in (30.0, -20.0):
        ref = tv_rotate(x, deg, interpolation=InterpolationMode.BILINEAR)
        assert (G.warp(x, _rotation(8, deg)) - ref).abs().max() < 1e-5


def test_registered_rotate_is_a_rotation_by_plus_or_minus_its_angle(digits):
    x = digits[:16]
    out = corrupt(x, "rotate", 2, seed=3)  # 20 degrees
    plus, minus = G.warp(x, _rotation(16, 20)), G.warp(x, _rotation(16, -20))
    err = torch.minimum((out - plus).flatten(1).abs().max(1).values, (out - minus).flatten(1).abs().max(1).values)
    assert err.max() < 1e-5


def test_pixelate_by_half_is_average_pooling():
    x = torch.rand(4, 1, 28, 28)
    ref = F.avg_pool2d(x, 2).repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)
    assert torch.allclose(G.pixelate(x, 0.5, torch.Generator()), ref, atol=1e-6)


def test_motion_blur_kernels_are_normalised():
    x = torch.full((3, 1, 28, 28), 0.5)
    out = G.motion_blur(x, 7, torch.Generator().manual_seed(0))
    assert torch.allclose(out[..., 4:-4, 4:-4], x[..., 4:-4, 4:-4], atol=1e-6)  # interior keeps a constant


def test_jpeg_error_falls_with_quality(digits):
    err = [(G.jpeg(digits, q, torch.Generator()) - digits).abs().mean().item() for q in (10, 50, 95)]
    assert err[0] > err[1] > err[2] > 0


# ----------------------------------------------------------------------------- bad input
def test_unknown_corruption_lists_the_valid_ones(digits):
    with pytest.raises(UnknownNameError, match="unknown corruption 'snowy'; valid: .*gaussian_noise.*rotate"):
        corrupt(digits, "snowy", 1)


@pytest.mark.parametrize("sev", [0, 6, 2.5, True])
def test_bad_severity(digits, sev):
    with pytest.raises(DanluError, match="severity must be an integer in 1..5"):
        corrupt(digits, "fog", sev)


def test_bad_images():
    with pytest.raises(DanluError, match=r"images must lie in \[0, 1\]"):
        corrupt(torch.rand(2, 1, 28, 28) * 255, "fog", 1)
    with pytest.raises(DanluError, match="grayscale.*corrupt_rgb"):
        corrupt(torch.rand(2, 3, 28, 28), "fog", 1)
    with pytest.raises(DanluError, match="floating-point"):
        corrupt(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), "fog", 1)
    with pytest.raises(DanluError, match="unknown corruption category"):
        list_corruptions("snow")
