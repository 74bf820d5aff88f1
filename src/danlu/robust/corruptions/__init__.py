"""Image corruptions at 5 severities, in the registry ``CORRUPTIONS`` (MNIST-C / ImageNet-C style).

Hendrycks & Dietterich, "Benchmarking Neural Network Robustness to Common Corruptions and
Perturbations", arXiv:1903.12261 (ImageNet-C: 15 corruptions x 5 severities, mean corruption
accuracy); Mu & Gilmer, "MNIST-C: A Robustness Benchmark for Computer Vision", arXiv:1906.02337
(the geometric and stroke corruptions of digits).

    >>> import torch
    >>> from danlu.robust.corruptions import corrupt, list_corruptions
    >>> x = torch.rand(4, 1, 28, 28)
    >>> corrupt(x, "gaussian_noise", severity=3, seed=0).shape
    torch.Size([4, 1, 28, 28])
    >>> "rotate" in list_corruptions()
    True

The set for 28x28 grayscale (``gray.py``) is built from torch / torchvision operations on
(N, 1, H, W) float tensors in [0, 1] and is deterministic given ``seed`` (a private
``torch.Generator``; the global RNG is untouched). Each entry names its category (noise, blur,
geometric, weather, digital) and its five parameters, so the report can say what severity 3 means.
For RGB images, :func:`danlu.robust.corruptions.rgb.corrupt_rgb` wraps the ``imagecorruptions``
package (ImageNet-C's own code; an optional extra).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from danlu.errors import DanluError
from danlu.registry import Registry

SEVERITIES = (1, 2, 3, 4, 5)
CATEGORIES = ("noise", "blur", "geometric", "weather", "digital")


@dataclass(frozen=True)
class Corruption:
    """One registered corruption.

    Attributes:
        name: registry name.
        category: one of ``CATEGORIES``.
        params: the parameter at severities 1..5 (its meaning is in ``doc``).
        fn: ``fn(x (N, 1, H, W) in [0, 1], param, generator) -> (N, 1, H, W) in [0, 1]``.
        doc: what the parameter is, one line.
    """

    name: str
    category: str
    params: tuple[Any, ...]
    fn: Callable[[Tensor, Any, torch.Generator], Tensor]
    doc: str


def _load() -> None:
    import danlu.robust.corruptions.gray  # noqa: F401  (its decorators fill the registry)


#: name -> :class:`Corruption` for 28x28 grayscale images (filled by ``gray.py`` on first lookup).
CORRUPTIONS: Registry = Registry("corruption", loader=_load)


def register(name: str, category: str, params: tuple[Any, ...], doc: str) -> Callable:
    """Decorator registering ``fn(x, param, generator)`` as corruption ``name`` with 5 severity params."""
    if category not in CATEGORIES or len(params) != len(SEVERITIES):
        raise DanluError(f"corruption {name!r}: category must be one of {CATEGORIES} and params 5 values")

    def deco(fn: Callable) -> Callable:
        CORRUPTIONS.add(name, Corruption(name, category, tuple(params), fn, doc))
        return fn

    return deco


def list_corruptions(category: str | None = None) -> list[str]:
    """Registered corruption names (of ``category`` if given), in category order then by name."""
    if category is not None and category not in CATEGORIES:
        raise DanluError(f"unknown corruption category {category!r}; valid: {', '.join(CATEGORIES)}")
    entries = [CORRUPTIONS.get(n) for n in CORRUPTIONS.names()]
    order = {c: i for i, c in enumerate(CATEGORIES)}
    return [c.name for c in sorted(entries, key=lambda c: (order[c.category], c.name))
            if category is None or c.category == category]


def _as_batch(x: Tensor) -> tuple[Tensor, tuple[int, ...]]:
    """(N, 1, H, W), (N, H, W) or (H, W) float in [0, 1] -> (N, 1, H, W) and the shape to restore."""
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise DanluError(f"images must be a floating-point torch.Tensor, got {type(x).__name__}"
                         + (f" of dtype {x.dtype}" if isinstance(x, Tensor) else ""))
    shape = tuple(x.shape)
    if x.dim() == 2:
        x = x[None, None]
    elif x.dim() == 3:
        x = x[:, None]
    elif x.dim() != 4 or x.shape[1] != 1:
        raise DanluError(f"images must be grayscale (N, 1, H, W), (N, H, W) or (H, W), got shape {shape}; "
                         "for RGB use danlu.robust.corruptions.rgb.corrupt_rgb")
    if x.numel() == 0:
        raise DanluError(f"images is empty (shape {shape})")
    mn, mx = float(x.min()), float(x.max())
    if not (mn >= 0.0 and mx <= 1.0):
        raise DanluError(f"images must lie in [0, 1], got values in [{mn:.4g}, {mx:.4g}]")
    return x, shape


def corrupt(x: Tensor, name: str, severity: int, *, seed: int = 0) -> Tensor:
    """Corruption ``name`` at ``severity`` (1..5) applied to grayscale images in [0, 1].

    Args:
        x: (N, 1, H, W), (N, H, W) or (H, W) float images in [0, 1].
        name: a registered corruption (an unknown name lists the valid ones).
        severity: 1 (mild) .. 5 (strong).
        seed: seeds the corruption's random draws (same seed, same output).

    Returns:
        Corrupted images of x's shape and dtype, in [0, 1].
    """
    c = CORRUPTIONS.get(name)
    if isinstance(severity, bool) or severity not in SEVERITIES:
        raise DanluError(f"severity must be an integer in 1..5, got {severity!r}")
    xb, shape = _as_batch(x)
    g = torch.Generator(device=xb.device).manual_seed(int(seed))
    out = c.fn(xb.float(), c.params[severity - 1], g).clamp(0.0, 1.0)
    return out.to(x.dtype).reshape(shape)


__all__ = ["CATEGORIES", "CORRUPTIONS", "SEVERITIES", "Corruption", "corrupt", "list_corruptions", "register"]
