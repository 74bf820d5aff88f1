"""Vision building blocks: ViT, SE/CBAM, receptive fields, SPP, upsampling, augmentation,
fine-tuning utilities and folder/CSV image datasets.

Submodules are imported on first attribute access so ``import danlu.vision`` stays cheap
(torchvision and Pillow load only when a submodule needs them)::

    from danlu.vision.upsample import bilinear_kernel, BilinearConvTranspose2d
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = (
    "augment",
    "attention_blocks",
    "datasets",
    "finetune",
    "leaves",
    "receptive",
    "spp",
    "upsample",
    "vit",
)

__all__ = list(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"danlu.vision.{name}")
    raise AttributeError(f"module 'danlu.vision' has no attribute {name!r}")
