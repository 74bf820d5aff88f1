"""Detection metrics of a model over padded targets: COCO AP and AP50 through danlu.metrics.detection."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

from torch import Tensor

from danlu.detection.export import coco_ground_truth, coco_results


def coco_stats(targets: Tensor, detections: Sequence[Mapping[str, Tensor]], image_hw: tuple[int, int],
               classes: Mapping[int, str]) -> dict[str, float]:
    """The 12 COCO stats (AP, AP50, ..., as pycocotools) of per-image detections against targets (N, G, 6)."""
    from danlu.metrics.detection import coco_map

    gt = coco_ground_truth(targets, image_hw, classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no detections at all early in training: AP 0, not a user mistake here
        res = coco_map(gt, coco_results(detections))
    return {k: float(v) for k, v in res.stats.items()}
