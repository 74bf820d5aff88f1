"""Detection mAP: COCO (identical to pycocotools, vectorised) and VOC 07/10+ (identical to voc_eval).

Quick use::

    from danlu.metrics.detection import coco_map, voc_map
    res = coco_map("instances_val.json", "dets.json")     # paths or parsed JSON
    res.stats["AP"], res.per_class[1]["AP"]
    voc = voc_map("instances_val.json", "dets.json", metric="voc07", iou=0.5)
    voc["mAP"], voc["per_class"]
"""

from __future__ import annotations

import dataclasses
import os

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


def voc_map(gt: JsonLike | CocoGroundTruth, dets: JsonLike | CocoDetections, *, metric: str = "voc10",
            iou: float = 0.5, pixel_inclusive: bool | None = None) -> dict:
    """VOC mAP (voc_eval rules, see :func:`~danlu.metrics.detection.voc.evaluate_voc`).

    ``gt`` is a COCO JSON (path or dict; ``difficult`` or ``iscrowd`` annotations count as
    difficult) or a folder of VOC XML files. ``pixel_inclusive`` (the voc_eval "+1") defaults to
    True for XML folders and False for COCO JSON, whose boxes are continuous.
    """
    from danlu.metrics.detection.voc import VOC_METRICS, evaluate_voc
    from danlu.metrics.detection.voc_io import load_voc_xml

    VOC_METRICS.get(metric)  # fail fast on an unknown metric, before reading files

    xml = isinstance(gt, (str, os.PathLike)) and os.path.isdir(gt)
    if isinstance(gt, CocoGroundTruth):
        g = gt
    elif xml:
        g = load_voc_xml(gt)
    else:
        g = load_coco_gt(gt)
        g = dataclasses.replace(g, difficult=g.difficult | g.crowd)
    d = dets if isinstance(dets, CocoDetections) else load_coco_dets(dets, g)
    inclusive = xml if pixel_inclusive is None else pixel_inclusive
    return evaluate_voc(g, d, metric=metric, iou=iou, pixel_inclusive=inclusive)


__all__ = [
    "STAT_KEYS", "CocoDetections", "CocoGroundTruth", "CocoParams", "CocoResult", "coco_map",
    "detections_from_arrays", "evaluate_coco", "load_coco_dets", "load_coco_gt", "summarize",
    "voc_map",
]
