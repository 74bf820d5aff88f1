"""Detection mAP: COCO (identical to pycocotools, vectorised) and VOC 07/10+ (identical to voc_eval).

Quick use::

    from danlu.metrics.detection import coco_map, voc_map
    res = coco_map("instances_val.json", "dets.json")     # paths or parsed JSON
    res.stats["AP"], res.per_class[1]["AP"]
    voc = voc_map("instances_val.json", "dets.json", metric="voc07", iou=0.5)
    voc["mAP"], voc["per_class"]
"""

from __future__ import annotations

from danlu.metrics.detection.coco import STAT_KEYS, CocoParams, CocoResult, evaluate_coco, summarize
from danlu.metrics.detection.coco_io import (
    CocoDetections,
    CocoGroundTruth,
    JsonLike,
    detections_from_arrays,
    load_coco_dets,
    load_coco_gt,
)


def coco_map(gt: JsonLike | CocoGroundTruth, dets: JsonLike | CocoDetections,
             params: CocoParams | None = None) -> CocoResult:
    """COCO bbox mAP from paths or parsed JSON (or already-loaded arrays); see :func:`evaluate_coco`."""
    g = gt if isinstance(gt, CocoGroundTruth) else load_coco_gt(gt)
    d = dets if isinstance(dets, CocoDetections) else load_coco_dets(dets, g)
    return evaluate_coco(g, d, params)


__all__ = [
    "STAT_KEYS", "CocoDetections", "CocoGroundTruth", "CocoParams", "CocoResult", "coco_map",
    "detections_from_arrays", "evaluate_coco", "load_coco_dets", "load_coco_gt", "summarize",
]
