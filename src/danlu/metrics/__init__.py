"""Metrics: detection (boxes, anchors, VOC and COCO mAP) and segmentation (PA, MPA, MIoU, FWIoU, Dice).

Submodules:

- :mod:`danlu.metrics.boxes`: box formats, IoU/GIoU, batched NMS (torchvision.ops), SSD anchors,
  anchor matching and offset encode/decode with variances.
- :mod:`danlu.metrics.detection`: COCO mAP (identical to pycocotools, vectorised) and VOC mAP
  (07 11-point and 10+ all-point, identical to py-faster-rcnn's ``voc_eval``).
- :mod:`danlu.metrics.segmentation`: streaming confusion matrix and the PA/MPA/MIoU/FWIoU/Dice family.

Submodules are imported on first attribute access so ``import danlu.metrics`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("boxes", "detection", "segmentation")


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"danlu.metrics.{name}")
    raise AttributeError(f"module 'danlu.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES])
