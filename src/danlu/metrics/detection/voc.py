"""PASCAL VOC mAP: VOC2007 11-point and VOC2010+ all-point AP, identical to ``voc_eval``, vectorised.

Reference: Everingham et al., "The PASCAL Visual Object Classes (VOC) Challenge" (IJCV 2010), and
the evaluation code of py-faster-rcnn (``lib/datasets/voc_eval.py``: ``voc_eval`` + ``voc_ap``).

Semantics reproduced (``tests/metrics/test_voc.py`` re-derives voc_eval and compares):

- per class, detections sorted by score (stable: ties keep file order; voc_eval's default
  quicksort leaves tie order unspecified);
- each detection looks at *all* ground truths of its image and class (difficult ones included) and
  takes the one of highest IoU (the first among equal IoUs); if that IoU is ``> iou`` (strict):
  a difficult ground truth makes the detection neither TP nor FP, an unclaimed one makes it TP,
  an already-claimed one FP (it does not fall back to the second best); otherwise FP;
- positives = non-difficult ground truths; precision = tp / max(tp + fp, eps);
- ``pixel_inclusive=True`` adds 1 to widths and heights (VOC's integer pixel boxes, as voc_eval);
- VOC07: mean of the max precision at recall >= t for t in 0, 0.1, ..., 1; VOC10+: area under the
  monotone precision envelope at every recall change.

A class without positives gets AP NaN and is left out of the mAP (voc_eval would give NaN or 0
depending on the metric). Vectorised: "first detection to claim a ground truth" is a grouped
minimum, so there is no loop over detections (only a loop over classes to integrate the curves).
"""

from __future__ import annotations

import math

import numpy as np

from danlu.errors import DanluError
from danlu.metrics.detection.coco_io import CocoDetections, CocoGroundTruth
from danlu.registry import Registry

#: VOC AP integration rules: name -> function(rec, prec) -> AP.
VOC_METRICS: Registry = Registry("VOC metric")


@VOC_METRICS.register("voc07")
def voc07_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """VOC2007 11-point AP: mean over t in {0, .1, ..., 1} of max precision at recall >= t."""
    ap = 0.0
    for t in np.arange(0.0, 1.1, 0.1):
        p = 0.0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
        ap = ap + p / 11.0
    return float(ap)


@VOC_METRICS.register("voc10")
def voc10_ap(rec: np.ndarray, prec: np.ndarray) -> float:
    """VOC2010+ all-point AP: area under the monotone precision envelope."""
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def voc_tp_fp(gt: CocoGroundTruth, dets: CocoDetections, *, iou: float = 0.5,
              pixel_inclusive: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """voc_eval's per-detection outcome, vectorised.

    Returns:
        ``order`` (N,) detections sorted by class then score (stable), ``tp`` (N,) and ``fp`` (N,)
        bool in that order, ``npos`` (K,) non-difficult ground truths per class.
    """
    K = gt.num_categories
    n = len(dets)
    order = np.lexsort((np.arange(n), -dets.score, dets.cat))  # (N,) class, score desc, file order
    off = 1.0 if pixel_inclusive else 0.0
    grp_d = (dets.img * K + dets.cat)[order]
    g_grp = gt.img * K + gt.cat
    g_order = np.argsort(g_grp, kind="stable")
    g_grp_s = g_grp[g_order]
    count = np.bincount(g_grp_s, minlength=gt.num_images * K)
    start = np.cumsum(count) - count
    per = count[grp_d]
    pd = np.repeat(np.arange(n), per)  # (P,) position in ``order``
    pg = g_order[start[grp_d][pd] + np.arange(len(pd)) - np.repeat(np.cumsum(per) - per, per)]  # (P,) gt
    d = dets.bbox[order][pd]
    g = gt.bbox[pg]
    dx2, dy2, gx2, gy2 = d[:, 0] + d[:, 2], d[:, 1] + d[:, 3], g[:, 0] + g[:, 2], g[:, 1] + g[:, 3]
    iw = np.maximum(np.minimum(gx2, dx2) - np.maximum(g[:, 0], d[:, 0]) + off, 0.0)
    ih = np.maximum(np.minimum(gy2, dy2) - np.maximum(g[:, 1], d[:, 1]) + off, 0.0)
    inters = iw * ih
    uni = ((dx2 - d[:, 0] + off) * (dy2 - d[:, 1] + off) + (gx2 - g[:, 0] + off) * (gy2 - g[:, 1] + off) - inters)
    with np.errstate(divide="ignore", invalid="ignore"):
        ov = inters / uni  # (P,)
    # first maximal overlap per detection (np.argmax semantics): sort by det, -ov, gt position
    gpos = np.arange(len(pd)) - np.repeat(np.cumsum(per) - per, per)
    s = np.lexsort((gpos, -ov, pd))
    first = np.ones(len(s), dtype=bool)  # (P,) no pairs at all (no detections, or none meets a gt): empty
    first[1:] = pd[s][1:] != pd[s][:-1]
    best_d, best_g, best_ov = pd[s][first], pg[s][first], ov[s][first]
    ovmax = np.full(n, -np.inf)
    jmax = np.full(n, -1)
    ovmax[best_d], jmax[best_d] = best_ov, best_g
    hit = ovmax > iou
    diff = np.zeros(n, dtype=bool)
    diff[hit] = gt.difficult[jmax[hit]]
    claim = hit & ~diff
    tp = np.zeros(n, dtype=bool)
    cd = np.flatnonzero(claim)  # ascending = score order within a class
    _, first_claim = np.unique(jmax[cd], return_index=True)
    tp[cd[first_claim]] = True
    fp = ~tp & ~(hit & diff)
    npos = np.bincount(gt.cat[~gt.difficult], minlength=K)
    return order, tp, fp, npos


def evaluate_voc(gt: CocoGroundTruth, dets: CocoDetections, *, metric: str = "voc10", iou: float = 0.5,
                 pixel_inclusive: bool = True) -> dict:
    """VOC mAP with voc_eval's rules.

    Args:
        gt: ground truth (a COCO JSON via ``load_coco_gt`` or VOC XML via ``load_voc_xml``);
            ``difficult`` flags mark objects that are neither positives nor errors.
        dets: detections validated against ``gt``.
        metric: ``"voc07"`` (11-point) or ``"voc10"`` (all-point), see :data:`VOC_METRICS`.
        iou: overlap threshold (strict ``>``), default 0.5.
        pixel_inclusive: add 1 to widths/heights as voc_eval does for integer pixel boxes.

    Returns:
        ``{"metric", "iou", "mAP", "per_class": {category id: {"name", "AP", "npos", "ndet"}}}``;
        a class without positives has AP NaN and is excluded from the mAP.
    """
    ap_fn = VOC_METRICS.get(metric)
    if not (isinstance(iou, (int, float)) and 0.0 <= iou < 1.0):
        raise DanluError(f"VOC IoU threshold must be in [0, 1), got {iou!r}")
    order, tp, fp, npos = voc_tp_fp(gt, dets, iou=iou, pixel_inclusive=pixel_inclusive)
    cats = dets.cat[order]
    bounds = np.searchsorted(cats, np.arange(gt.num_categories + 1))
    per_class, aps = {}, []
    eps = np.finfo(np.float64).eps
    for k, cid in enumerate(gt.category_ids):
        lo, hi = bounds[k], bounds[k + 1]
        if npos[k] == 0:
            ap = math.nan
        else:
            tps = np.cumsum(tp[lo:hi]).astype(np.float64)
            fps = np.cumsum(fp[lo:hi]).astype(np.float64)
            rec = tps / float(npos[k])
            prec = tps / np.maximum(tps + fps, eps)
            ap = ap_fn(rec, prec)
            aps.append(ap)
        per_class[cid] = {"name": gt.category_names[k], "AP": ap, "npos": int(npos[k]), "ndet": int(hi - lo)}
    return {"metric": metric, "iou": iou, "mAP": float(np.mean(aps)) if aps else math.nan, "per_class": per_class}
