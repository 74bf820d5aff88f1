"""COCO mAP parity with pycocotools (the reference): every stat, and the full precision/recall arrays.

Randomised seeded cases from ``danlu.metrics.detection.synthetic`` hit crowd regions, tied scores,
images with no ground truth or no detections, categories with no ground truth, annotation areas
exactly on 32**2 / 96**2, and > 100 detections for one (image, category).
"""

from __future__ import annotations

import numpy as np
import pytest
from metrics_coco_ref import pycocotools_eval

from danlu.metrics.detection import CocoParams, coco_map
from danlu.metrics.detection.synthetic import synthetic_coco

pytest.importorskip("pycocotools")

CONFIGS = [
    {},
    {"crowd_frac": 0.3, "tie_frac": 0.8},
    {"gt_per_image": 12, "dets_per_image": 60, "crowded_image_frac": 0.3},
    {"boundary_frac": 0.6, "empty_image_frac": 0.4},
    {"num_categories": 2, "gt_per_image": 8, "tie_frac": 1.0},
    {"num_categories": 12, "gt_per_image": 1.5, "dets_per_image": 10},
]


def _assert_same(E, res) -> None:
    np.testing.assert_array_equal(res.precision, E.eval["precision"])
    np.testing.assert_array_equal(res.recall, E.eval["recall"])
    ours = np.array([res.stats[k] for k in res.stats])
    assert np.abs(ours - np.asarray(E.stats)).max() <= 1e-12, (ours, E.stats)


@pytest.mark.parametrize("seed", range(12))
def test_random_cases_match_pycocotools(seed: int) -> None:
    gt, dets = synthetic_coco(seed=seed, num_images=25, **{"num_categories": 5, **CONFIGS[seed % len(CONFIGS)]})
    E = pycocotools_eval(gt, dets)
    res = coco_map(gt, dets)
    _assert_same(E, res)
    assert any(v > 0 for v in res.stats.values())  # a non-trivial case


def test_corner_cases_are_present_in_the_generator() -> None:
    gt, dets = synthetic_coco(seed=3, num_images=40, num_categories=6, crowded_image_frac=0.3,
                              boundary_frac=0.5, crowd_frac=0.2, empty_image_frac=0.3)
    anns = gt["annotations"]
    assert any(a["iscrowd"] for a in anns)
    assert {1024.0, 9216.0} <= {a["area"] for a in anns}
    gt_imgs, det_imgs = {a["image_id"] for a in anns}, {d["image_id"] for d in dets}
    all_imgs = {i["id"] for i in gt["images"]}
    assert all_imgs - gt_imgs and all_imgs - det_imgs
    assert {c["id"] for c in gt["categories"]} - {a["category_id"] for a in anns}
    scores = [d["score"] for d in dets]
    assert len(set(scores)) < len(scores)
    per = {}
    for d in dets:
        per[d["image_id"], d["category_id"]] = per.get((d["image_id"], d["category_id"]), 0) + 1
    assert max(per.values()) > 100


def test_annotation_id_zero_quirk_matches_pycocotools() -> None:
    gt, dets = synthetic_coco(seed=11, num_images=10, num_categories=3, dets_per_image=15)
    gt["annotations"][0]["id"] = 0  # pycocotools reads a match to id 0 as "no match"
    _assert_same(pycocotools_eval(gt, dets), coco_map(gt, dets))


def test_custom_params_match_pycocotools() -> None:
    gt, dets = synthetic_coco(seed=5, num_images=20, num_categories=4, crowded_image_frac=0.2)
    iou, md, ar = [0.3, 0.5, 0.75, 0.9], [1, 5, 20], [[0, 1e10], [0, 2000], [2000, 1e10], [500, 5000]]
    E = pycocotools_eval(gt, dets, iou_thrs=iou, max_dets=md, area_rng=ar)
    params = CocoParams(iou_thresholds=np.array(iou), max_dets=tuple(md), area_ranges=tuple(map(tuple, ar)))
    _assert_same(E, coco_map(gt, dets, params))


def test_hand_computed_case() -> None:
    """One image, two ground truths, three detections: AP50 by hand."""
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "area": 100},
                          {"id": 2, "image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "area": 100}]}
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9},    # TP (IoU 1)
            {"image_id": 1, "category_id": 1, "bbox": [50, 50, 10, 10], "score": 0.8},  # FP
            {"image_id": 1, "category_id": 1, "bbox": [20, 20, 10, 10], "score": 0.7}]  # TP
    res = coco_map(gt, dets)
    # precision envelope: 1.0 up to recall 0.5 (51 points), 2/3 from 0.51 to 1.0 (50 points)
    assert res.stats["AP50"] == pytest.approx((51 * 1.0 + 50 * 2 / 3) / 101, abs=1e-12)
    assert res.stats["AR1"] == pytest.approx(0.5)
    assert res.stats["AR100"] == pytest.approx(1.0)
    assert res.per_class[1]["AP"] == res.stats["AP"]


def test_empty_detections_give_zero_and_minus_one() -> None:
    gt, _ = synthetic_coco(seed=2, num_images=5, num_categories=3)
    res = coco_map(gt, [])
    assert res.stats["AP"] == 0.0 and res.stats["AR100"] == 0.0
    cats_with_gt = {a["category_id"] for a in gt["annotations"]}
    for cid, row in res.per_class.items():
        assert row["AP"] == (0.0 if cid in cats_with_gt else -1.0)
