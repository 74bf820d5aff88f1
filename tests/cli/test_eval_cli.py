"""``danlu eval``: COCO stats equal pycocotools', VOC output, and bad input -> one clear error line, exit 2."""

from __future__ import annotations

import contextlib
import copy
import io
import json

import numpy as np
import pytest

from danlu.cli import main
from danlu.metrics.detection import STAT_KEYS
from danlu.metrics.detection.synthetic import synthetic_coco


def pycocotools_stats(gt: dict, dets: list) -> np.ndarray:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        E = COCOeval(c, c.loadRes(copy.deepcopy(dets)), "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


@pytest.fixture
def files(tmp_path):
    gt, dets = synthetic_coco(seed=4, num_images=15, num_categories=4)
    g, d = tmp_path / "gt.json", tmp_path / "dets.json"
    g.write_text(json.dumps(gt))
    d.write_text(json.dumps(dets))
    return gt, dets, g, d


def test_coco_prints_the_12_stats_equal_to_pycocotools(files, capsys) -> None:
    gt, dets, g, d = files
    assert main(["eval", "coco", str(g), str(d), "--per-class"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out)[:12] == list(STAT_KEYS)
    ref = pycocotools_stats(gt, dets)
    assert np.abs(np.array([out[k] for k in STAT_KEYS]) - ref).max() <= 1e-12
    assert set(out["per_class"]) == {str(c["id"]) for c in gt["categories"]}


def test_voc_prints_map(files, capsys) -> None:
    _, _, g, d = files
    assert main(["eval", "voc", str(g), str(d), "--metric", "voc07", "--iou", "0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["metric"] == "voc07" and 0 < out["mAP"] <= 1 and out["per_class"]


def _bad(tmp_path, gt, dets, mutate):
    dets = json.loads(json.dumps(dets))
    text = mutate(dets)
    g, d = tmp_path / "gt.json", tmp_path / "bad.json"
    g.write_text(json.dumps(gt))
    d.write_text(text if isinstance(text, str) else json.dumps(dets))
    return g, d


@pytest.mark.parametrize("mutate, expect", [
    (lambda d: '[{"image_id": 1,', "not valid JSON"),
    (lambda d: d[3].update(image_id=-5), "detections[3] has image_id -5"),
    (lambda d: d[2].update(category_id=999), "detections[2] has category_id 999"),
    (lambda d: d[1].update(bbox=[1, 2, -3, 4]), "detections[1] has a negative width"),
    (lambda d: d[0].update(score=float("nan")), "detections[0] has a non-finite score"),
    (lambda d: d[4].pop("score"), "detections[4] has no 'score'"),
    (lambda d: d[5].update(bbox=[1, 2, 3]), "detections[5] bbox must be 4 numbers"),
])
@pytest.mark.parametrize("protocol", ["coco", "voc"])
def test_bad_input_one_line_exit_2(files, tmp_path, capsys, mutate, expect, protocol) -> None:
    gt, dets, _, _ = files
    g, d = _bad(tmp_path, gt, dets, mutate)
    assert main(["eval", protocol, str(g), str(d)]) == 2
    cap = capsys.readouterr()
    assert cap.out == ""
    assert cap.err.startswith("danlu eval: error: ") and expect in cap.err and cap.err.count("\n") == 1


def test_bad_ground_truth_and_missing_file(tmp_path, capsys) -> None:
    g = tmp_path / "gt.json"
    g.write_text(json.dumps({"images": [{"id": 1}], "categories": [{"id": 1}],
                             "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1]}]}))
    d = tmp_path / "d.json"
    d.write_text("[]")
    assert main(["eval", "coco", str(g), str(d)]) == 2
    assert "annotations[0] has image_id 2" in capsys.readouterr().err
    assert main(["eval", "coco", str(tmp_path / "missing.json"), str(d)]) == 2
    assert "missing.json" in capsys.readouterr().err
    assert main(["eval", "voc", str(g), str(d), "--metric", "voc12"]) == 2
    assert "voc07" in capsys.readouterr().err
