"""Metrics: detection (boxes, anchors, VOC and COCO mAP) and segmentation (PA, MPA, MIoU, FWIoU, Dice).

Submodules:

- :mod:`danlu.metrics.boxes`: box formats, IoU/GIoU, batched NMS (torchvision.ops), SSD anchors,
  anchor matching and offset encode/decode with variances.
- :mod:`danlu.metrics.detection`: COCO mAP (identical to pycocotools, vectorised) and VOC mAP
  (07 11-point and 10+ all-point, identical to py-faster-rcnn's ``voc_eval``).
- :mod:`danlu.metrics.segmentation`: streaming confusion matrix and the PA/MPA/MIoU/FWIoU/Dice family.
- :func:`danlu.metrics.bleu` / :func:`danlu.metrics.sentence_bleu` (in ``bleu_score``): BLEU equal to sacrebleu.
- :mod:`danlu.metrics.verification`: pair verification (ROC AUC, TAR@FAR, threshold selection).

Submodules are imported on first attribute access so ``import danlu.metrics`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_SUBMODULES = ("boxes", "detection", "segmentation", "verification")
#: functions exposed at package level -> the submodule that defines them (imported on first use)
_FUNCTIONS = {"bleu": "bleu_score", "sentence_bleu": "bleu_score"}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"danlu.metrics.{name}")
    if name in _FUNCTIONS:
        return getattr(importlib.import_module(f"danlu.metrics.{_FUNCTIONS[name]}"), name)
    raise AttributeError(f"module 'danlu.metrics' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBMODULES, *_FUNCTIONS])
