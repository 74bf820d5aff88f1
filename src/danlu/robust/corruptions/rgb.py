"""RGB corruptions through the ``imagecorruptions`` package (ImageNet-C's own code; optional extra).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", arXiv:1903.12261. ``imagecorruptions`` (Michaelis et al. 2019) packages their
functions; it is imported lazily and only here, so danlu works without it.

    >>> import torch
    >>> from danlu.robust.corruptions.rgb import corrupt_rgb
    >>> out = corrupt_rgb(torch.rand(2, 3, 32, 32), "contrast", 3, seed=0)   # doctest: +SKIP

Compatibility: imagecorruptions 1.1.2 imports ``pkg_resources`` for one function
(``resource_filename``, to find its frost images), and setuptools no longer ships it everywhere. When
``pkg_resources`` is absent, :func:`load_imagecorruptions` provides that one function for the
duration of the import and removes the stand-in from ``sys.modules`` afterwards. A corruption the
installed numpy / scikit-image versions break (glass_blur, gaussian_blur and fog on numpy 2 /
scikit-image >= 0.19) raises DanluError naming it and the cause.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from typing import Any

import numpy as np
import torch
from torch import Tensor

from danlu.errors import DanluError

INSTALL = "pip install imagecorruptions"


def _resource_filename(package: str, path: str) -> str:
    spec = importlib.util.find_spec(package)
    return os.path.join(os.path.dirname(spec.origin), path)


def load_imagecorruptions() -> Any:
    """The ``imagecorruptions`` module, or DanluError saying how to install it."""
    shim = None
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        shim = types.ModuleType("pkg_resources")
        shim.resource_filename = _resource_filename
        sys.modules["pkg_resources"] = shim
    try:
        return importlib.import_module("imagecorruptions")
    except ImportError as e:
        raise DanluError(f"RGB corruptions need the optional package imagecorruptions ({e}); {INSTALL}") from None
    finally:
        if shim is not None and sys.modules.get("pkg_resources") is shim:
            del sys.modules["pkg_resources"]


def list_rgb_corruptions() -> list[str]:
    """imagecorruptions' corruption names (the 15 of ImageNet-C and its 4 extra ones)."""
    return list(load_imagecorruptions().get_corruption_names("all"))


def corrupt_rgb(images: Tensor, name: str, severity: int, *, seed: int = 0) -> Tensor:
    """imagecorruptions' ``corrupt(image, severity, corruption_name)`` applied to each image.

    Args:
        images: (N, 3, H, W) or (3, H, W) float in [0, 1] (converted to uint8 HWC as the package expects).
        name: an imagecorruptions name (an unknown one lists the valid names).
        severity: 1..5.
        seed: numpy's global RNG is seeded with ``seed`` once before the batch (the package draws from
            it), and restored afterwards.

    Returns:
        (N, 3, H, W) (or (3, H, W)) float32 in [0, 1] on the input's device.
    """
    ic = load_imagecorruptions()
    valid = list(ic.get_corruption_names("all"))
    if name not in valid:
        raise DanluError(f"unknown RGB corruption {name!r}; valid: {', '.join(valid)}")
    if isinstance(severity, bool) or severity not in (1, 2, 3, 4, 5):
        raise DanluError(f"severity must be an integer in 1..5, got {severity!r}")
    single = isinstance(images, Tensor) and images.dim() == 3
    x = images[None] if single else images
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() != 4 or x.shape[1] != 3:
        raise DanluError(f"images must be a float (N, 3, H, W) or (3, H, W) tensor in [0, 1], got "
                         f"{getattr(images, 'shape', type(images).__name__)}")
    if x.numel() == 0 or float(x.min()) < 0 or float(x.max()) > 1:
        raise DanluError("images must lie in [0, 1]")
    if min(x.shape[-2:]) < 32:
        raise DanluError(f"imagecorruptions needs images of at least 32x32 pixels, got {tuple(x.shape[-2:])}")
    u8 = (x.detach().cpu().permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()  # (N, H, W, 3)
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        out = [np.asarray(ic.corrupt(img, severity=severity, corruption_name=name)) for img in u8]
    except Exception as e:  # the package's own failures with newer numpy / scikit-image
        raise DanluError(f"imagecorruptions' {name!r} failed (with the installed numpy / scikit-image): "
                         f"{type(e).__name__}: {e}") from None
    finally:
        np.random.set_state(state)
    h, w = x.shape[-2:]
    arr = np.stack([np.asarray(o, dtype=np.float32)[:h, :w] for o in out])  # (N, H, W, 3)
    res = torch.from_numpy(arr / 255.0).float().permute(0, 3, 1, 2).clamp(0, 1).to(images.device)
    return res[0] if single else res


__all__ = ["corrupt_rgb", "list_rgb_corruptions", "load_imagecorruptions"]
