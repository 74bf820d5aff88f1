"""The MNIST-C style corruption set for (N, 1, H, W) grayscale images in [0, 1], from torch ops.

Parameters follow ImageNet-C (Hendrycks & Dietterich, arXiv:1903.12261) where a corruption has an
equivalent there (the noise constants, contrast, JPEG quality), scaled to 28x28 images where it is
about pixels (blur widths, translations), and MNIST-C (Mu & Gilmer, arXiv:1906.02337) for the
geometric and stroke corruptions. Every random draw comes from the generator passed in, one value
(an angle, a direction, a field) per image. Geometric warps resample with ``grid_sample``
(bilinear, zero padding, ``align_corners=False``), so a 90 degree rotation of a square image is
exactly ``torch.rot90``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from danlu.robust.corruptions import register

# ----------------------------------------------------------------------------- helpers


def _uniform(n: int, lo: float, hi: float, g: torch.Generator, device: torch.device) -> Tensor:
    return torch.rand(n, generator=g, device=device) * (hi - lo) + lo  # (n,)


def _signs(n: int, g: torch.Generator, device: torch.device) -> Tensor:
    return torch.randint(0, 2, (n,), generator=g, device=device).float() * 2 - 1  # (n,) of +-1


def warp(x: Tensor, theta: Tensor) -> Tensor:
    """Resample x (N, C, H, W) through per-image affine maps theta (N, 2, 3) in normalised coordinates
    (output pixel -> input location, as ``F.affine_grid``)."""
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)  # (N, H, W, 2)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _eye(n: int, device: torch.device) -> Tensor:
    return torch.eye(2, 3, device=device).repeat(n, 1, 1)  # (n, 2, 3)


def smooth_field(n: int, h: int, w: int, cells: int, g: torch.Generator, device: torch.device) -> Tensor:
    """Low-frequency noise (n, 1, h, w) in [0, 1]: a (cells x cells) Gaussian grid upsampled bicubically,
    min-max scaled per image."""
    coarse = torch.randn(n, 1, cells, cells, generator=g, device=device)
    f = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False)
    lo = f.amin(dim=(1, 2, 3), keepdim=True)
    hi = f.amax(dim=(1, 2, 3), keepdim=True)
    return (f - lo) / (hi - lo).clamp(min=1e-12)


# ----------------------------------------------------------------------------- noise


@register("gaussian_noise", "noise", (0.08, 0.12, 0.18, 0.26, 0.38), "standard deviation of added N(0, s^2) noise")
def gaussian_noise(x: Tensor, s: float, g: torch.Generator) -> Tensor:
    return x + s * torch.randn(x.shape, generator=g, device=x.device)


@register("shot_noise", "noise", (60, 25, 12, 5, 3), "photons per unit intensity: Poisson(x * c) / c")
def shot_noise(x: Tensor, c: float, g: torch.Generator) -> Tensor:
    return torch.poisson(x * c, generator=g) / c


@register("impulse_noise", "noise", (0.03, 0.06, 0.09, 0.17, 0.27), "fraction of pixels set to 0 or 1 (salt and pepper)")
def impulse_noise(x: Tensor, amount: float, g: torch.Generator) -> Tensor:
    u = torch.rand(x.shape, generator=g, device=x.device)
    salt = torch.rand(x.shape, generator=g, device=x.device) < 0.5
    hit = u < amount
    return torch.where(hit & salt, torch.ones_like(x), torch.where(hit, torch.zeros_like(x), x))


# ----------------------------------------------------------------------------- blur


@register("gaussian_blur", "blur", (0.6, 0.9, 1.2, 1.5, 1.8), "blur sigma in pixels (torchvision gaussian_blur)")
def gaussian_blur(x: Tensor, sigma: float, g: torch.Generator) -> Tensor:
    from torchvision.transforms.v2.functional import gaussian_blur as tv_blur

    k = 2 * math.ceil(3 * sigma) + 1
    return tv_blur(x, kernel_size=[k, k], sigma=[sigma, sigma])


@register("motion_blur", "blur", (3, 5, 7, 9, 11), "length in pixels of a line kernel at a random angle per image")
def motion_blur(x: Tensor, length: int, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    angle = _uniform(n, 0.0, math.pi, g, x.device)  # (N,)
    r = length // 2
    coords = torch.arange(-r, r + 1, device=x.device, dtype=x.dtype)  # (k,)
    t = coords  # positions along the line
    px = t[None] * torch.cos(angle)[:, None]  # (N, k) line points
    py = t[None] * torch.sin(angle)[:, None]
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")  # (k, k)
    d2 = (gx[None, None] - px[:, :, None, None]) ** 2 + (gy[None, None] - py[:, :, None, None]) ** 2  # (N, k, k, k)
    kern = torch.exp(-d2 / (2 * 0.5**2)).sum(1)  # (N, k, k): the line drawn with 0.5 px Gaussian dots
    kern = kern / kern.sum(dim=(1, 2), keepdim=True)
    out = F.conv2d(x.reshape(1, n, h, w), kern[:, None], padding=r, groups=n)  # (1, N, H, W)
    return out.reshape(n, 1, h, w)


# ----------------------------------------------------------------------------- geometric


@register("rotate", "geometric", (10, 20, 30, 40, 50), "rotation in degrees, random sign per image")
def rotate(x: Tensor, degrees: float, g: torch.Generator) -> Tensor:
    a = torch.deg2rad(degrees * _signs(len(x), g, x.device))  # (N,)
    theta = _eye(len(x), x.device)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(a), -torch.sin(a)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(a), torch.cos(a)
    return warp(x, theta)


@register("shear", "geometric", (0.15, 0.3, 0.45, 0.6, 0.75), "horizontal shear factor, random sign per image")
def shear(x: Tensor, k: float, g: torch.Generator) -> Tensor:
    theta = _eye(len(x), x.device)
    theta[:, 0, 1] = k * _signs(len(x), g, x.device)
    return warp(x, theta)


@register("scale", "geometric", (0.9, 0.8, 0.7, 0.6, 0.5), "zoom-out factor (the digit shrinks about the centre)")
def scale(x: Tensor, s: float, g: torch.Generator) -> Tensor:
    return warp(x, _eye(len(x), x.device) / s)


@register("translate", "geometric", (2, 3, 4, 5, 6), "shift in pixels in a random direction per image")
def translate(x: Tensor, pixels: float, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    phi = _uniform(n, 0.0, 2 * math.pi, g, x.device)
    theta = _eye(n, x.device)
    theta[:, 0, 2] = -pixels * torch.cos(phi) * 2 / w  # normalised units: 2 / W per pixel
    theta[:, 1, 2] = -pixels * torch.sin(phi) * 2 / h
    return warp(x, theta)


@register("elastic", "geometric", (1.0, 1.5, 2.0, 2.5, 3.0), "mean displacement in pixels of a smooth random field")
def elastic(x: Tensor, alpha: float, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    field = torch.randn(n, 2, 7, 7, generator=g, device=x.device)
    field = F.interpolate(field, size=(h, w), mode="bicubic", align_corners=False)  # (N, 2, H, W)
    field = field / field.abs().mean(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12) * alpha
    base = F.affine_grid(_eye(n, x.device), [n, 1, h, w], align_corners=False)  # (N, H, W, 2)
    grid = base + torch.stack([field[:, 0] * 2 / w, field[:, 1] * 2 / h], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


# ----------------------------------------------------------------------------- weather-like


@register("fog", "weather", (0.3, 0.5, 0.7, 0.9, 1.2), "strength c of a low-frequency haze: (x + c f) / (1 + c)")
def fog(x: Tensor, c: float, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    return (x + c * smooth_field(n, h, w, 4, g, x.device)) / (1 + c)


@register("spatter", "weather", (0.04, 0.08, 0.12, 0.16, 0.2), "fraction of the image covered by grey blobs")
def spatter(x: Tensor, frac: float, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    f = smooth_field(n, h, w, 9, g, x.device)  # (N, 1, H, W)
    cut = torch.quantile(f.flatten(1), 1 - frac, dim=1).view(n, 1, 1, 1)
    return torch.where(f > cut, torch.full_like(x, 0.5), x)


# ----------------------------------------------------------------------------- digital


@register("brightness", "digital", (0.1, 0.2, 0.3, 0.4, 0.5), "intensity added to every pixel")
def brightness(x: Tensor, b: float, g: torch.Generator) -> Tensor:
    return x + b


@register("contrast", "digital", (0.4, 0.3, 0.2, 0.1, 0.05), "contrast factor about each image's mean")
def contrast(x: Tensor, c: float, g: torch.Generator) -> Tensor:
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * c + mean


@register("pixelate", "digital", (0.7, 0.55, 0.45, 0.35, 0.25), "resolution factor (area down, nearest up)")
def pixelate(x: Tensor, f: float, g: torch.Generator) -> Tensor:
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(max(1, round(h * f)), max(1, round(w * f))), mode="area")
    return F.interpolate(small, size=(h, w), mode="nearest")


@register("jpeg", "digital", (25, 18, 15, 10, 7), "JPEG quality (Pillow's encoder, as ImageNet-C)")
def jpeg(x: Tensor, quality: int, g: torch.Generator) -> Tensor:
    import io

    import numpy as np
    from PIL import Image

    u8 = (x.detach().cpu()[:, 0] * 255).round().to(torch.uint8).numpy()  # (N, H, W)
    out = np.empty(u8.shape, dtype=np.uint8)
    for i, img in enumerate(u8):
        buf = io.BytesIO()
        Image.fromarray(img, mode="L").save(buf, format="JPEG", quality=int(quality))
        out[i] = np.asarray(Image.open(buf))
    return (torch.from_numpy(out).float()[:, None] / 255).to(x.device)


@register("stripe", "digital", (1, 2, 3, 4, 5), "white lines (1 px) across the image, each vertical or horizontal")
def stripe(x: Tensor, count: int, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    out = x.clone()
    pos = torch.randint(0, min(h, w), (n, count), generator=g, device=x.device)
    vertical = torch.randint(0, 2, (n, count), generator=g, device=x.device).bool()
    rows = torch.arange(n, device=x.device)[:, None].expand(n, count)
    out[rows[vertical], 0, :, pos[vertical]] = 1.0
    out[rows[~vertical], 0, pos[~vertical], :] = 1.0
    return out
