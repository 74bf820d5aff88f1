"""COCO / VOC export read back by danlu.metrics.detection (and pycocotools), and the tv_tensors Dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from danlu.detection.data import shapes_tensors
from danlu.detection.dataset import ShapesDataset, collate
from danlu.detection.export import coco_ground_truth, coco_results, voc_image_ids, write_coco, write_voc
from danlu.detection.shapes import CLASSES, make_shapes
from danlu.detection.targets import unpad
from danlu.files import OutputExistsError
from danlu.metrics.detection import coco_map, load_coco_gt, voc_map


@pytest.fixture(scope="module")
def shapes():
    d = make_shapes(30, image_size=64, seed=5)
    return d, shapes_tensors(d)[1]


def _perfect(targets: torch.Tensor, shift: float = 0.0) -> list[dict]:
    labels, boxes, valid = unpad(targets)
    return [{"boxes": boxes[i][valid[i]] + shift, "scores": torch.linspace(1, 0.5, int(valid[i].sum())),
             "labels": labels[i][valid[i]]} for i in range(len(targets))]


def test_coco_export_round_trip(shapes, tmp_path) -> None:
    d, t = shapes
    gt = coco_ground_truth(t, (64, 64), CLASSES)
    path = write_coco(tmp_path / "gt.json", gt)
    g = load_coco_gt(path)
    assert g.num_images == 30 and g.category_ids == [1, 2, 3, 4] and len(g.ann_id) == sum(map(len, d.labels))
    i0 = int(np.flatnonzero([len(x) for x in d.labels])[0])
    first = [a for a in gt["annotations"] if a["image_id"] == i0 + 1][0]
    x1, y1, x2, y2 = d.boxes[i0][0].tolist()
    assert first["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1])
    assert first["area"] == d.instance_masks[i0][0].sum()  # COCO area = the (visible) mask area
    assert coco_map(gt, coco_results(_perfect(t))).stats["AP"] == pytest.approx(1.0)
    half = coco_map(gt, coco_results(_perfect(t, shift=3.0))).stats  # shifted boxes: AP drops, AP50 stays high
    assert half["AP"] < 0.9


def test_coco_export_agrees_with_pycocotools(shapes, tmp_path) -> None:
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    _, t = shapes
    gt = coco_ground_truth(t, (64, 64), CLASSES)
    labels, boxes, valid = unpad(t)
    g = torch.Generator().manual_seed(0)
    dets = [{"boxes": boxes[i][valid[i]] + torch.randn(int(valid[i].sum()), 4, generator=g) * 2,
             "scores": torch.rand(int(valid[i].sum()), generator=g), "labels": labels[i][valid[i]]}
            for i in range(len(t))]
    res = coco_results(dets)
    (tmp_path / "g.json").write_text(json.dumps(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        cg = COCO(str(tmp_path / "g.json"))
        e = COCOeval(cg, cg.loadRes(res), "bbox")
        e.evaluate(), e.accumulate(), e.summarize()
    assert list(coco_map(gt, res).stats.values()) == pytest.approx(e.stats.tolist(), abs=1e-12)


def test_voc_export_read_by_voc_map(shapes, tmp_path) -> None:
    _, t = shapes
    folder = write_voc(tmp_path / "voc", t, (64, 64), CLASSES)
    assert sorted(p.stem for p in folder.glob("*.xml")) == voc_image_ids(30)
    res = coco_results(_perfect(t), image_ids=voc_image_ids(30), category_ids=CLASSES)
    # VOC boxes are whole pixels (1-based inclusive): continuous boxes score IoU < 1 but well above 0.5
    out = voc_map(folder, res, metric="voc10", iou=0.5)
    assert out["mAP"] == pytest.approx(1.0)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_voc(folder, t, (64, 64), CLASSES)
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_coco(tmp_path / "voc" / "000001.xml", {})


def test_tv_tensors_flip_moves_boxes_and_masks() -> None:
    from torchvision import tv_tensors
    from torchvision.transforms import v2

    d = make_shapes(6, image_size=40, empty_frac=0.0, seed=1)
    plain, flipped = ShapesDataset(d), ShapesDataset(d, transforms=v2.RandomHorizontalFlip(p=1.0))
    for i in range(6):
        (im, t), (fim, ft) = plain[i], flipped[i]
        assert isinstance(fim, tv_tensors.Image) and isinstance(ft["boxes"], tv_tensors.BoundingBoxes)
        assert torch.equal(fim, im.flip(-1))
        assert torch.equal(ft["masks"], t["masks"].flip(-1)) and torch.equal(ft["semantic"], t["semantic"].flip(-1))
        b, fb = t["boxes"], ft["boxes"]
        assert torch.allclose(fb[:, 0], 40 - b[:, 2]) and torch.allclose(fb[:, 2], 40 - b[:, 0])
        assert torch.equal(fb[:, 1::2], b[:, 1::2]) and torch.equal(ft["labels"], t["labels"])
    images, targets = collate([plain[0], plain[1]])
    assert len(images) == len(targets) == 2


def test_dataset_drops_boxes_pushed_out_and_counts_them() -> None:
    from torchvision.transforms import v2

    d = make_shapes(8, image_size=40, empty_frac=0.0, seed=2)
    shift = v2.RandomAffine(degrees=0, translate=(0.9, 0.9))
    torch.manual_seed(0)
    ds = ShapesDataset(d, transforms=shift)
    kept = sum(len(ds[i][1]["labels"]) for i in range(8))
    total = sum(len(x) for x in d.labels)
    assert ds.report.dropped == total - kept > 0
    for i in range(8):
        t = ds[i][1]
        assert len(t["masks"]) == len(t["boxes"]) == len(t["labels"])
        assert ((t["boxes"][:, 2] > t["boxes"][:, 0]) & (t["boxes"][:, 3] > t["boxes"][:, 1])).all()
