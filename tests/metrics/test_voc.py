"""VOC mAP: parity with voc_eval (py-faster-rcnn) re-derived here from its definition, plus hand cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from danlu.errors import DanluError
from danlu.metrics.detection import voc_map
from danlu.metrics.detection.synthetic import synthetic_coco


def _voc_ap_reference(rec, prec, use_07_metric):
    """voc_ap as published (loop form)."""
    if use_07_metric:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def _voc_eval_reference(gt: dict, dets: list, classname, ovthresh: float, use_07: bool, plus: float):
    """voc_eval for one class, loop form; ``difficult`` from the annotation field; stable sort."""
    recs = {}
    for a in gt["annotations"]:
        if a["category_id"] != classname:
            continue
        x, y, w, h = a["bbox"]
        r = recs.setdefault(a["image_id"], {"bbox": [], "difficult": [], "det": []})
        r["bbox"].append([x, y, x + w, y + h])
        r["difficult"].append(bool(a.get("difficult", 0)))
        r["det"].append(False)
    npos = sum(sum(not d for d in r["difficult"]) for r in recs.values())
    ds = [d for d in dets if d["category_id"] == classname]
    conf = np.array([d["score"] for d in ds])
    order = np.argsort(-conf, kind="mergesort")
    tp, fp = np.zeros(len(ds)), np.zeros(len(ds))
    for n, i in enumerate(order):
        d = ds[i]
        x, y, w, h = d["bbox"]
        bb = np.array([x, y, x + w, y + h])
        R = recs.get(d["image_id"], {"bbox": [], "difficult": [], "det": []})
        BBGT = np.array(R["bbox"], dtype=float).reshape(-1, 4)
        ovmax = -np.inf
        if BBGT.size > 0:
            ixmin = np.maximum(BBGT[:, 0], bb[0])
            iymin = np.maximum(BBGT[:, 1], bb[1])
            ixmax = np.minimum(BBGT[:, 2], bb[2])
            iymax = np.minimum(BBGT[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin + plus, 0.0)
            ih = np.maximum(iymax - iymin + plus, 0.0)
            inters = iw * ih
            uni = ((bb[2] - bb[0] + plus) * (bb[3] - bb[1] + plus)
                   + (BBGT[:, 2] - BBGT[:, 0] + plus) * (BBGT[:, 3] - BBGT[:, 1] + plus) - inters)
            overlaps = inters / uni
            ovmax, jmax = np.max(overlaps), np.argmax(overlaps)
        if ovmax > ovthresh:
            if not R["difficult"][jmax]:
                if not R["det"][jmax]:
                    tp[n] = 1.0
                    R["det"][jmax] = True
                else:
                    fp[n] = 1.0
        else:
            fp[n] = 1.0
    if npos == 0:
        return math.nan
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return _voc_ap_reference(rec, prec, use_07)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("metric", ["voc07", "voc10"])
def test_parity_with_voc_eval(seed: int, metric: str) -> None:
    gt, dets = synthetic_coco(seed=100 + seed, num_images=20, num_categories=4, tie_frac=0.3, crowd_frac=0.0)
    rng = np.random.default_rng(seed)
    for a in gt["annotations"]:
        a["difficult"] = int(rng.random() < 0.15)
    iou = [0.5, 0.3, 0.7][seed % 3]
    inclusive = seed % 2 == 0
    res = voc_map(gt, dets, metric=metric, iou=iou, pixel_inclusive=inclusive)
    aps = []
    for cid, row in res["per_class"].items():
        ref = _voc_eval_reference(gt, dets, cid, iou, metric == "voc07", 1.0 if inclusive else 0.0)
        if math.isnan(ref):
            assert math.isnan(row["AP"])
        else:
            assert row["AP"] == pytest.approx(ref, abs=1e-12)
            aps.append(ref)
    assert res["mAP"] == pytest.approx(float(np.mean(aps)), abs=1e-12)


def _case(gts, dets, **kw):
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": b, "area": b[2] * b[3],
                           "difficult": dif} for i, (b, dif) in enumerate(gts)]}
    ds = [{"image_id": 1, "category_id": 1, "bbox": b, "score": s} for b, s in dets]
    return voc_map(gt, ds, **kw)


def test_hand_computed_11_point_differs_from_all_point() -> None:
    gts = [([0, 0, 10, 10], 0), ([20, 0, 10, 10], 0), ([40, 0, 10, 10], 0)]
    dets = [([0, 0, 10, 10], 0.9), ([60, 60, 5, 5], 0.8), ([20, 0, 10, 10], 0.7)]
    # rec = [1/3, 1/3, 2/3], prec = [1, 1/2, 2/3]
    assert _case(gts, dets, metric="voc10")["mAP"] == pytest.approx(1 / 3 + 1 / 3 * 2 / 3)
    assert _case(gts, dets, metric="voc07")["mAP"] == pytest.approx((4 * 1 + 3 * 2 / 3) / 11)


def test_difficult_is_neither_tp_nor_fp_and_duplicates_do_not_fall_back() -> None:
    gts = [([0, 0, 10, 10], 0), ([0, 0, 10, 11], 0), ([50, 50, 10, 10], 1)]
    dets = [([0, 0, 10, 10], 0.9),    # TP on gt 0
            ([50, 50, 10, 10], 0.85),  # on the difficult gt: ignored
            ([0, 0, 10, 10], 0.8),    # best overlap is gt 0 again (claimed): FP, no fall-back to gt 1
            ]
    res = _case(gts, dets, metric="voc10")
    assert res["per_class"][1]["npos"] == 2
    # tp/fp over [TP, FP] (difficult skipped): rec [.5, .5], prec [1, .5] -> AP 0.5
    assert res["mAP"] == pytest.approx(0.5)


def test_strict_threshold_and_plus_one() -> None:
    # boxes of 10x10 pixels inclusive (0..9) overlapping half: IoU with +1 is 50/150 = 1/3
    gts = [([0, 0, 9, 9], 0)]
    assert _case(gts, [([5, 0, 9, 9], 0.9)], iou=1 / 3, pixel_inclusive=True)["mAP"] == 0.0  # not > 1/3
    assert _case(gts, [([5, 0, 9, 9], 0.9)], iou=0.33, pixel_inclusive=True)["mAP"] == 1.0


def test_voc_xml_folder(tmp_path) -> None:
    xml = """<annotation><filename>{n}.jpg</filename>{objs}</annotation>"""
    obj = ("<object><name>{c}</name><difficult>{d}</difficult><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
           "<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>")
    (tmp_path / "000001.xml").write_text(xml.format(n="000001", objs=obj.format(c="dog", d=0, b=(1, 1, 10, 10))
                                                    + obj.format(c="cat", d=1, b=(20, 20, 30, 30))))
    (tmp_path / "000002.xml").write_text(xml.format(n="000002", objs=obj.format(c="cat", d=0, b=(5, 5, 50, 50))))
    dets = [{"image_id": "000001", "category_id": "dog", "bbox": [1, 1, 9, 9], "score": 0.9},
            {"image_id": "000002", "category_id": "cat", "bbox": [5, 5, 45, 45], "score": 0.8},
            {"image_id": "000001", "category_id": "cat", "bbox": [20, 20, 10, 10], "score": 0.7}]
    res = voc_map(str(tmp_path), dets, metric="voc07")
    assert res["per_class"]["dog"]["AP"] == pytest.approx(1.0)
    assert res["per_class"]["cat"]["AP"] == pytest.approx(1.0) and res["per_class"]["cat"]["npos"] == 1
    (tmp_path / "bad.xml").write_text("<annotation><object>")
    with pytest.raises(DanluError, match="bad.xml"):
        voc_map(str(tmp_path), dets)


def test_unknown_metric_and_bad_iou() -> None:
    gts = [([0, 0, 10, 10], 0)]
    with pytest.raises(DanluError, match="voc07"):
        _case(gts, [], metric="voc12")
    with pytest.raises(DanluError, match="IoU"):
        _case(gts, [], iou=1.5)
