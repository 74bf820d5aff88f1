"""met-map: VOC07 11-point vs VOC10+ all-point vs COCO AP on the same detections, and parity with pycocotools.

The comparison: one synthetic detection set (``danlu.metrics.detection.synthetic``: crowd regions,
tied scores, empty images, area-boundary boxes), scored by VOC07 (11-point), VOC10+ (all-point),
COCO AP50 (101-point) and COCO AP@[.5:.95], on several seeded detection sets; see
:func:`met_map_rule` for the criterion. Without pycocotools the parity half cannot be judged, so the
card is inconclusive, never held. Figure: the raw precision-recall curve of the most frequent class
with the 11-point samples and the all-point envelope.
"""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, all_of


def met_map_rule(min_gap: float, parity: float | None) -> Decision:
    """Held when both halves hold on every seeded detection set:
    (a) VOC07 11-point and VOC10+ all-point mAP@0.5 differ by more than 1e-4 on the same detections
        (the smallest |gap| over the sets; 1e-4 is a difference visible in a 4-decimal table, far
        above float64 rounding ~1e-16);
    (b) the reference agrees: the largest |danlu - pycocotools| over the 12 COCO stats and all sets
        is at most 1e-12 (both compute in float64; only summation order may differ).
    Not held when the numbers do not differ or parity is off. When pycocotools is not installed
    (parity None) the parity half is inconclusive, so the card is inconclusive (or not held if (a)
    fails): a claim about agreeing with a reference is never held without the reference.
    """
    differ = bool(min_gap > 1e-4)
    agree = None if parity is None else bool(parity <= 1e-12)
    return all_of(differ, agree)


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
    quick={"images": 60, "categories": 5, "dets": 25, "seeds": 3},
    full={"images": 1000, "categories": 20, "dets": 60, "seeds": 3},
    rule=met_map_rule,
)
def met_map(ctx: CardContext) -> CardResult:
    from danlu.lab.evidence import estimate, seeds_for
    from danlu.metrics.detection import STAT_KEYS, coco_map, load_coco_dets, load_coco_gt, voc_map
    from danlu.metrics.detection.synthetic import synthetic_coco
    from danlu.metrics.detection.voc import evaluate_voc, voc_tp_fp
    from danlu.plotting import subplots

    b = ctx.budget
    gaps, parities, sets = [], [], []
    for seed in seeds_for(ctx.seed, int(b["seeds"])):
        gt, dets = synthetic_coco(num_images=b["images"], num_categories=b["categories"], dets_per_image=b["dets"],
                                  seed=seed)
        coco = coco_map(gt, dets)
        v07 = voc_map(gt, dets, metric="voc07", iou=0.5)
        v10 = voc_map(gt, dets, metric="voc10", iou=0.5)
        ref = _pycocotools_stats(gt, dets)
        ours = np.array([coco.stats[k] for k in STAT_KEYS])
        parities.append(None if ref is None else float(np.abs(ours - ref).max()))
        gaps.append(abs(v07["mAP"] - v10["mAP"]))
        sets.append((seed, gt, dets, coco, v07, v10))
    parity = None if any(p is None for p in parities) else max(parities)
    table = [{"class": f"mean (set {seed})", "VOC07 11-pt": v07["mAP"], "VOC10 all-pt": v10["mAP"],
              "|VOC07 - VOC10|": abs(v07["mAP"] - v10["mAP"]), "COCO AP50": coco.stats["AP50"],
              "COCO AP": coco.stats["AP"], "max |danlu - pycocotools|": p}
             for (seed, _, _, coco, v07, v10), p in zip(sets, parities)]
    seed, gt, dets, coco, v07, v10 = sets[0]
    for cid, row in v10["per_class"].items():
        if row["npos"]:
            table.append({"class": f"{row['name']} (set {seed})", "VOC07 11-pt": v07["per_class"][cid]["AP"],
                          "VOC10 all-pt": row["AP"], "COCO AP50": coco.per_class[cid]["AP50"],
                          "COCO AP": coco.per_class[cid]["AP"]})
    gap = min(gaps)
    held = met_map_rule(gap, parity)

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
    par = ("pycocotools not installed, so parity was not checked and the card cannot be held "
           "(pip install 'danlu[lab]')") if parity is None else \
        f"max |danlu - pycocotools| over the 12 COCO stats of {len(sets)} sets = {parity:.3g} (needs <= 1e-12)"
    gap_est = estimate(gaps)
    gap_text = f"smallest {gap:.4f} over {len(gaps)} detection sets (mean {gap_est.mean:.4f}; needs > 1e-4)"
    reason = (f"mAP@0.5 on set {seed}: VOC07 11-point {v07['mAP']:.4f} vs VOC10 all-point {v10['mAP']:.4f}; "
              f"|VOC07 - VOC10| {gap_text}; COCO AP50 {coco.stats['AP50']:.4f}, AP {coco.stats['AP']:.4f}; {par}.")
    return CardResult(table=table, held=held, reason=reason,
                      notes="VOC here treats crowd regions as difficult; COCO ignores them via its own rules, "
                            "and matches per IoU threshold greedily, so AP50 and VOC10 differ too.",
                      effects={"|VOC07 - VOC10| mAP": (gap_est, gap_text)},
                      extra={"coco_stats": coco.stats, "parity": parities, "gaps": gaps})
