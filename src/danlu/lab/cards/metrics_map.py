"""met-map: VOC07 11-point vs VOC10+ all-point vs COCO AP on the same detections, and parity with pycocotools.

The comparison: one synthetic detection set (``danlu.metrics.detection.synthetic``: crowd regions,
tied scores, empty images, area-boundary boxes), scored by VOC07 (11-point), VOC10+ (all-point),
COCO AP50 (101-point) and COCO AP@[.5:.95]. The claim holds if the 11-point and all-point numbers
differ on the same detections (by more than 1e-4 in mAP) and, when pycocotools is installed, if all
12 of danlu's COCO stats equal pycocotools' within 1e-12. Figure: the raw precision-recall curve of
the most frequent class with the 11-point samples and the all-point envelope.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from danlu.lab import CardContext, CardResult, card


def _pycocotools_stats(gt: dict, dets: list) -> np.ndarray | None:
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        return None
    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        E = COCOeval(c, c.loadRes(copy.deepcopy(dets)), "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
    return np.asarray(E.stats)


@card(
    id="met-map",
    title="mAP: VOC 11-point vs all-point vs COCO, and parity with pycocotools",
    claim=("On the same detections VOC2007 11-point and VOC2010+ all-point AP give different numbers, "
           "and danlu's COCO stats equal pycocotools' exactly."),
    source="note on mAP: VOC 11-point and all-point AP, COCO AP@[.5:.95]",
    area="metrics",
    quick={"images": 60, "categories": 5, "dets": 25},
    full={"images": 1000, "categories": 20, "dets": 60},
)
def met_map(ctx: CardContext) -> CardResult:
    from danlu.metrics.detection import STAT_KEYS, coco_map, load_coco_dets, load_coco_gt, voc_map
    from danlu.metrics.detection.synthetic import synthetic_coco
    from danlu.metrics.detection.voc import evaluate_voc, voc_tp_fp
    from danlu.plotting import subplots

    b = ctx.budget
    gt, dets = synthetic_coco(num_images=b["images"], num_categories=b["categories"], dets_per_image=b["dets"],
                              seed=ctx.seed)
    coco = coco_map(gt, dets)
    v07 = voc_map(gt, dets, metric="voc07", iou=0.5)
    v10 = voc_map(gt, dets, metric="voc10", iou=0.5)
    ref = _pycocotools_stats(gt, dets)
    ours = np.array([coco.stats[k] for k in STAT_KEYS])
    parity = None if ref is None else float(np.abs(ours - ref).max())
    table = [{"class": "mean", "VOC07 11-pt": v07["mAP"], "VOC10 all-pt": v10["mAP"],
              "COCO AP50": coco.stats["AP50"], "COCO AP": coco.stats["AP"]}]
    for cid, row in v10["per_class"].items():
        if row["npos"]:
            table.append({"class": row["name"], "VOC07 11-pt": v07["per_class"][cid]["AP"], "VOC10 all-pt": row["AP"],
                          "COCO AP50": coco.per_class[cid]["AP50"], "COCO AP": coco.per_class[cid]["AP"]})
    gap = abs(v07["mAP"] - v10["mAP"])
    held = gap > 1e-4 and (parity is None or parity <= 1e-12)

    # PR curve of the most frequent class
    g = load_coco_gt(gt)
    g = type(g)(**{**g.__dict__, "difficult": g.difficult | g.crowd})
    d = load_coco_dets(dets, g)
    order, tp, fp, npos = voc_tp_fp(g, d, iou=0.5, pixel_inclusive=False)
    k = int(np.argmax(npos))
    sel = d.cat[order] == k
    tps, fps = np.cumsum(tp[sel]), np.cumsum(fp[sel])
    rec, prec = tps / npos[k], tps / np.maximum(tps + fps, np.finfo(float).eps)
    env = np.maximum.accumulate(np.r_[prec, 0.0][::-1])[::-1][:-1]
    fig, axes = subplots(1, 1, width=5.5, height=3.8)
    ax = axes[0, 0]
    ax.plot(rec, prec, lw=0.8, color="0.6", label="raw precision")
    ax.step(rec, env, where="post", color="C0", label="all-point envelope (VOC10+)")
    pts = np.arange(0, 1.1, 0.1)
    p11 = [prec[rec >= t].max() if (rec >= t).any() else 0.0 for t in pts]
    ax.plot(pts, p11, "o", color="C3", label="11 samples (VOC07)")
    name = g.category_names[k]
    ap07 = evaluate_voc(g, d, metric="voc07", pixel_inclusive=False)["per_class"][g.category_ids[k]]["AP"]
    ap10 = evaluate_voc(g, d, metric="voc10", pixel_inclusive=False)["per_class"][g.category_ids[k]]["AP"]
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.02), ylim=(0, 1.05),
           title=f"{name}: AP07 {ap07:.3f}, AP10 {ap10:.3f}")
    ax.legend(fontsize=7)
    ctx.figure("pr-curve", fig, caption=f"Precision-recall of class {name} at IoU 0.5, with the 11 VOC07 "
                                        "samples and the VOC10+ all-point envelope.")
    par = "pycocotools not installed, parity not checked" if parity is None else \
        f"max |danlu - pycocotools| over the 12 COCO stats = {parity:.3g}"
    reason = (f"mAP@0.5: VOC07 11-point {v07['mAP']:.4f} vs VOC10 all-point {v10['mAP']:.4f} (gap {gap:.4f}); "
              f"COCO AP50 {coco.stats['AP50']:.4f}, AP {coco.stats['AP']:.4f}; {par}.")
    return CardResult(table=table, held=held, reason=reason,
                      notes="VOC here treats crowd regions as difficult; COCO ignores them via its own rules, "
                            "and matches per IoU threshold greedily, so AP50 and VOC10 differ too.",
                      extra={"coco_stats": coco.stats, "parity": parity})
