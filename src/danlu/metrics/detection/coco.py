"""COCO box mAP, identical to pycocotools' ``COCOeval`` (bbox) and vectorised over detections.

Reference: Lin et al., "Microsoft COCO: Common Objects in Context" (arXiv:1405.0312), and the
evaluation code ``pycocotools/cocoeval.py`` (``evaluate`` + ``accumulate`` + ``summarize``).

What is reproduced exactly (``tests/metrics/test_coco_parity.py`` compares every stat and the full
precision/recall arrays with pycocotools on randomised cases):

- detections per (image, category) are sorted by score with a stable sort (ties keep file order)
  and cut to ``max(max_dets)``; across images, ties are broken by sorted image id, then file order;
- IoU as ``maskUtils.iou`` computes it for boxes (float64, ``[x, y, w, h]``), with
  ``intersection / detection area`` for crowd ground truth;
- a ground truth is ignored when it is crowd or its ``area`` field is outside the area range
  (bounds inclusive on both sides); detections get ``area = w * h``;
- the greedy match per IoU threshold: each detection, best score first, takes the available
  non-ignored ground truth of highest IoU >= threshold (the last one among equal IoUs), else the
  best ignored one; crowd regions can be matched many times; a match to an annotation with id 0
  counts as no match, as in pycocotools (``dtMatches`` stores the id);
- unmatched detections outside the area range are ignored; precision is made monotone and read at
  101 recall points with ``searchsorted(..., side="left")``; -1 marks settings without ground truth.

How it is fast: IoUs are computed only for (detection, ground truth) pairs of the same image and
category, pairs below the smallest threshold are dropped (they can never match), and the greedy
match runs as one vectorised step per *rank* of a detection among the detections of its (image,
category) that overlap something -- all images, categories, area ranges and thresholds at once --
so there is no Python loop over detections. Accumulation only visits true-positive events (the
precision envelope read at a recall point is attained at a true positive), with false-positive
counts from cumulative sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from danlu.errors import DanluError
from danlu.metrics.detection.coco_io import CocoDetections, CocoGroundTruth

STAT_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")


@dataclass(frozen=True)
class CocoParams:
    """Evaluation parameters, defaulting to pycocotools' ``Params(iouType="bbox")``.

    Attributes:
        iou_thresholds: (T,) IoU thresholds, default ``linspace(.5, .95, 10)``.
        rec_thresholds: (R,) recall points, default ``linspace(0, 1, 101)``.
        max_dets: detections kept per image and category, ascending, default (1, 10, 100).
        area_ranges: (A, 2) inclusive ``[lo, hi]`` on the annotation area, default all/small/medium/large.
        area_labels: names of the area ranges.
    """

    iou_thresholds: np.ndarray = field(default_factory=lambda: np.linspace(
        .5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True))
    rec_thresholds: np.ndarray = field(default_factory=lambda: np.linspace(
        .0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True))
    max_dets: tuple[int, ...] = (1, 10, 100)
    area_ranges: tuple[tuple[float, float], ...] = ((0 ** 2, 1e5 ** 2), (0 ** 2, 32 ** 2), (32 ** 2, 96 ** 2),
                                                    (96 ** 2, 1e5 ** 2))
    area_labels: tuple[str, ...] = ("all", "small", "medium", "large")


@dataclass
class CocoResult:
    """What :func:`evaluate_coco` returns.

    Attributes:
        precision: (T, R, K, A, M) interpolated precision, -1 where a category has no ground truth.
        recall: (T, K, A, M) final recall, -1 likewise.
        stats: the 12 summary numbers under :data:`STAT_KEYS` (-1 where pycocotools gives -1).
        per_class: category id -> {"name", "AP", "AP50", "AP75"} (area all, max_dets[-1]).
        params: the parameters used.
    """

    precision: np.ndarray
    recall: np.ndarray
    stats: dict[str, float]
    per_class: dict
    params: CocoParams


def _box_iou_xywh(d: np.ndarray, g: np.ndarray, crowd: np.ndarray) -> np.ndarray:
    """pycocotools' ``bbIou`` on pairs: (P, 4) dets, (P, 4) gts, (P,) crowd flags -> (P,) IoU."""
    w = np.minimum(d[:, 2] + d[:, 0], g[:, 2] + g[:, 0]) - np.maximum(d[:, 0], g[:, 0])  # (P,)
    h = np.minimum(d[:, 3] + d[:, 1], g[:, 3] + g[:, 1]) - np.maximum(d[:, 1], g[:, 1])  # (P,)
    ok = (w > 0) & (h > 0)
    inter = w[ok] * h[ok]
    da = d[ok, 2] * d[ok, 3]
    ga = g[ok, 2] * g[ok, 3]
    union = np.where(crowd[ok], da, da + ga - inter)
    iou = np.zeros(len(d))
    iou[ok] = inter / union
    return iou


def _run_starts(sorted_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start index of each run of equal keys, and each element's run id."""
    n = len(sorted_keys)
    new = np.ones(n, dtype=bool)
    new[1:] = sorted_keys[1:] != sorted_keys[:-1]
    starts = np.flatnonzero(new)
    return starts, np.cumsum(new) - 1


def _segmented_suffix_max(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """out[i] = max(values[i:j]) where j ends i's segment (``seg`` non-decreasing); exact, log steps."""
    out = values.copy()
    n, step = len(out), 1
    while step < n:
        same = seg[:-step] == seg[step:]
        if not same.any():
            break
        out[:-step] = np.maximum(out[:-step], np.where(same, out[step:], -np.inf))
        step *= 2
    return out


def _match(cp_det, cp_gt, cp_iou, cand_group, thr, gt_ig, gt_crowd, n_gt) -> np.ndarray:
    """Greedy COCO matching for candidate pairs; returns (A, T, C) matched gt index or -1.

    cp_det (P,) candidate-det index 0..C-1 (ascending), cp_gt (P,) gt index, cp_iou (P,) IoU,
    cand_group (C,) the (image, category) group of each candidate det (dets ordered by group, then
    score), thr (T,) effective thresholds, gt_ig (A, G) ignore flags, gt_crowd (G,).
    """
    A, T, C = gt_ig.shape[0], len(thr), len(cand_group)
    result = np.full((A, T, C), -1, dtype=np.int64)
    if C == 0:
        return result
    starts, run = _run_starts(cand_group)
    crank = np.arange(C) - starts[run]  # (C,) rank among the group's candidate dets
    order = np.lexsort((cp_gt, cp_iou, cp_det, crank[cp_det]))
    cp_det, cp_gt, cp_iou = cp_det[order], cp_gt[order], cp_iou[order]
    pr = crank[cp_det]
    bounds = np.searchsorted(pr, np.arange(int(crank.max()) + 2))
    used = np.zeros((A, T, n_gt), dtype=bool)
    for r in range(len(bounds) - 1):  # one step per rank, all groups/areas/thresholds at once
        lo, hi = bounds[r], bounds[r + 1]
        pg, pi, pd = cp_gt[lo:hi], cp_iou[lo:hi], cp_det[lo:hi]
        seg = np.flatnonzero(np.r_[True, pd[1:] != pd[:-1]])  # (S,) each det's first pair
        avail = (pi[None, None, :] >= thr[None, :, None]) & (~used[:, :, pg] | gt_crowd[pg])  # (A, T, P)
        ig = gt_ig[:, pg][:, None, :]  # (A, 1, P)
        idx = np.arange(hi - lo)
        best_reg = np.maximum.reduceat(np.where(avail & ~ig, idx, -1), seg, axis=2)  # (A, T, S)
        best_ign = np.maximum.reduceat(np.where(avail & ig, idx, -1), seg, axis=2)
        best = np.where(best_reg >= 0, best_reg, best_ign)
        hit = best >= 0
        g = np.where(hit, pg[best], -1)  # (A, T, S)
        result[:, :, pd[seg]] = g
        aa, tt, _ = np.nonzero(hit)
        used[aa, tt, g[hit]] = True
    return result


def _cat_cumsum(x: np.ndarray, cat: np.ndarray, K: int) -> np.ndarray:
    """Inclusive cumulative sum along the last axis restarting at each category (``cat`` sorted)."""
    cs = np.cumsum(x, axis=-1)
    first = np.searchsorted(cat, np.arange(K))
    before = np.zeros(x.shape[:-1] + (K,), dtype=cs.dtype)
    has = first > 0
    before[..., has] = cs[..., first[has] - 1]
    return cs - before[..., cat]


def _precision_at_recall(pr, seg, seg_start, ntp, npig, rec_thr) -> np.ndarray:
    """(S, R) precision envelope at the recall points for S (threshold, category) segments.

    ``pr`` (E,) precision at each true-positive event, grouped by ``seg`` with k = 1..ntp in order.
    The envelope at recall r is the suffix max from the first event k with k / npig >= r.
    """
    env = _segmented_suffix_max(pr, seg) if len(pr) else pr
    npig_f = npig.astype(np.float64)[:, None]  # (S, 1)
    r = rec_thr[None, :]  # (1, R)
    k = np.maximum(np.ceil(r * npig_f), 1.0)  # (S, R) first guess for the smallest k with k/npig >= r
    for _ in range(2):  # correct float rounding of the guess, exactly as searchsorted would see rc
        k = k - ((k > 1) & ((k - 1) / npig_f >= r))
        k = k + (k / npig_f < r)
    k = k.astype(np.int64)
    ok = k <= ntp[:, None]
    q = np.zeros(k.shape)
    if ok.any():
        q[ok] = env[(seg_start[:, None] + k - 1)[ok]]
    return q


def evaluate_coco(gt: CocoGroundTruth, dets: CocoDetections, params: CocoParams | None = None) -> CocoResult:
    """COCO bbox evaluation, equal to pycocotools' evaluate + accumulate + summarize.

    Args:
        gt: validated ground truth (:func:`~danlu.metrics.detection.coco_io.load_coco_gt`).
        dets: validated detections (:func:`~danlu.metrics.detection.coco_io.load_coco_dets`).
        params: thresholds, recall points, max detections and area ranges (default: COCO's).

    Returns:
        :class:`CocoResult` with precision (T, R, K, A, M), recall (T, K, A, M), the 12 stats and
        per-class AP.
    """
    p = params or CocoParams()
    iou_thr = np.asarray(p.iou_thresholds, dtype=np.float64)
    rec_thr = np.asarray(p.rec_thresholds, dtype=np.float64)
    max_dets = sorted(int(m) for m in p.max_dets)
    area_rng = np.asarray(p.area_ranges, dtype=np.float64).reshape(-1, 2)
    K, T, R, A, M = gt.num_categories, len(iou_thr), len(rec_thr), len(area_rng), len(max_dets)
    if not max_dets or max_dets[0] < 1 or T == 0 or R == 0 or A == 0:
        raise DanluError(f"COCO params need positive max_dets and non-empty thresholds and area ranges, got "
                         f"max_dets={max_dets}, {T} IoU thresholds, {R} recall points, {A} area ranges")
    thr = np.minimum(iou_thr, 1 - 1e-10)  # (T,) pycocotools' effective threshold

    # detections: sort by (image, category), score desc, file order; keep the top max_dets[-1]
    n = len(dets)
    grp = dets.img * K + dets.cat  # (N,)
    order = np.lexsort((np.arange(n), -dets.score, grp))
    starts, run = _run_starts(grp[order])
    rank_sorted = np.arange(n) - starts[run]
    keep = rank_sorted < max_dets[-1]
    kd = order[keep]  # (D,) kept dets, ordered by group then score
    d_grp, d_rank, d_box = grp[kd], rank_sorted[keep], dets.bbox[kd]
    d_area = d_box[:, 2] * d_box[:, 3]  # (D,) as COCO.loadRes: w * h
    d_out = (d_area[None, :] < area_rng[:, :1]) | (d_area[None, :] > area_rng[:, 1:])  # (A, D)

    # ground truth grouped the same way (stable: file order within a group)
    g_order = np.argsort(gt.img * K + gt.cat, kind="stable")
    g_grp = (gt.img * K + gt.cat)[g_order]
    g_box, g_area, g_crowd, g_id = gt.bbox[g_order], gt.area[g_order], gt.crowd[g_order], gt.ann_id[g_order]
    g_ig = g_crowd[None, :] | (g_area[None, :] < area_rng[:, :1]) | (g_area[None, :] > area_rng[:, 1:])  # (A, G)
    n_groups = gt.num_images * K
    g_count = np.bincount(g_grp, minlength=n_groups)
    g_start = np.cumsum(g_count) - g_count

    # (det, gt) pairs of the same group, IoU, keep those that can match at some threshold
    per_det = g_count[d_grp]  # (D,)
    pair_det = np.repeat(np.arange(len(kd)), per_det)  # (P,)
    off = np.arange(len(pair_det)) - np.repeat(np.cumsum(per_det) - per_det, per_det)
    pair_gt = g_start[d_grp][pair_det] + off
    iou = _box_iou_xywh(d_box[pair_det], g_box[pair_gt], g_crowd[pair_gt])
    near = iou >= thr.min()
    pair_det, pair_gt, iou = pair_det[near], pair_gt[near], iou[near]
    cand, cp_det = np.unique(pair_det, return_inverse=True)  # (C,) candidate dets, pairs -> candidate
    match = _match(cp_det.reshape(-1), pair_gt, iou, d_grp[cand], thr, g_ig, g_crowd, len(g_grp))  # (A, T, C)

    # per candidate and (area, threshold): tp / fp / ignored, exactly as evaluateImg sets them
    hit = match >= 0
    mg = np.where(hit, match, 0)
    dtm = hit & (g_id[mg] != 0)  # (A, T, C) pycocotools stores the gt id; id 0 reads as "no match"
    c_out = d_out[:, cand][:, None, :]  # (A, 1, C)
    dt_ig = (hit & g_ig[np.arange(A)[:, None, None], mg]) | (~dtm & c_out)  # (A, T, C)
    tp = dtm & ~dt_ig
    fp_corr = (~c_out) & ~(~dtm & ~dt_ig)  # baseline "unmatched, in range" minus actual fp

    # accumulate: per category, all images, order (-score, image, file position)
    g_cat_all = gt.cat[g_order]
    npig = np.stack([np.bincount(g_cat_all[~g_ig[a]], minlength=K) for a in range(A)])  # (A, K)
    d_cat, d_img = dets.cat[kd], dets.img[kd]
    gorder = np.lexsort((kd, d_img, -dets.score[kd], d_cat))  # (D,) global accumulation order
    pos_of = np.empty(len(kd), dtype=np.int64)
    pos_of[gorder] = np.arange(len(kd))
    c_sorted = np.argsort(pos_of[cand], kind="stable")  # candidates in global order
    precision = -np.ones((T, R, K, A, M))
    recall = -np.ones((T, K, A, M))
    eps = np.spacing(1)
    for mi, md in enumerate(max_dets):
        sel = d_rank[gorder] < md  # (D,) global order, filtered
        cat_f = d_cat[gorder][sel]
        rank_in_f = np.cumsum(sel) - 1  # position in the filtered list
        cs_idx = c_sorted[d_rank[cand][c_sorted] < md]  # candidates kept, global order
        c_pos = rank_in_f[pos_of[cand[cs_idx]]]
        c_cat = d_cat[cand[cs_idx]]
        for a in range(A):
            base = _cat_cumsum((~d_out[a][gorder][sel]).astype(np.int64), cat_f, K)  # (Df,)
            tp_a = tp[a][:, cs_idx]  # (T, Cm)
            tp_cum = _cat_cumsum(tp_a.astype(np.int64), c_cat, K)
            fp_cum = base[c_pos][None, :] - _cat_cumsum(fp_corr[a][:, cs_idx].astype(np.int64), c_cat, K)
            tt, cc = np.nonzero(tp_a)  # events, grouped by (t, category), k ascending
            kf = tp_cum[tt, cc].astype(np.float64)
            pr = kf / (fp_cum[tt, cc].astype(np.float64) + kf + eps)
            ntp = np.zeros((T, K), dtype=np.int64)
            np.add.at(ntp, (tt, c_cat[cc]), 1)
            seg = tt * K + c_cat[cc]
            seg_start = np.searchsorted(seg, np.arange(T * K))
            npk = np.tile(npig[a], T)  # (T*K,)
            valid = npk > 0
            q = np.zeros((T * K, R))
            q[valid] = _precision_at_recall(pr, seg, seg_start[valid], ntp.reshape(-1)[valid], npk[valid],
                                            rec_thr)
            q[~valid] = -1
            precision[:, :, :, a, mi] = q.reshape(T, K, R).transpose(0, 2, 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                rec = ntp / npig[a][None, :].astype(np.float64)
            recall[:, :, a, mi] = np.where(npig[a][None, :] > 0, rec, -1)
    stats = summarize(precision, recall, p, max_dets)
    per_class = {}
    for k, cid in enumerate(gt.category_ids):
        row = {"name": gt.category_names[k]}
        for key, t_sel in (("AP", slice(None)), ("AP50", np.where(iou_thr == .5)[0]),
                           ("AP75", np.where(iou_thr == .75)[0])):
            s = precision[t_sel, :, k, 0, -1]
            row[key] = float(np.mean(s[s > -1])) if (s > -1).any() else -1.0
        per_class[cid] = row
    return CocoResult(precision=precision, recall=recall, stats=stats, per_class=per_class, params=p)


def summarize(precision: np.ndarray, recall: np.ndarray, p: CocoParams, max_dets: list[int]) -> dict[str, float]:
    """The 12 COCO summary numbers, computed exactly as ``COCOeval.summarize`` does."""
    iou_thr = np.asarray(p.iou_thresholds)
    labels = list(p.area_labels)

    def one(ap: bool, iou: float | None = None, area: str = "all", md: int = 100) -> float:
        aind = [i for i, lbl in enumerate(labels) if lbl == area]
        mind = [i for i, m in enumerate(max_dets) if m == md]
        s = precision if ap else recall
        if iou is not None:
            s = s[np.where(iou == iou_thr)[0]]
        s = s[:, :, :, aind, mind] if ap else s[:, :, aind, mind]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    m0, m1, m2 = (max_dets[min(i, len(max_dets) - 1)] for i in range(3))
    vals = [one(True, md=100), one(True, .5, md=m2), one(True, .75, md=m2), one(True, area="small", md=m2),
            one(True, area="medium", md=m2), one(True, area="large", md=m2), one(False, md=m0),
            one(False, md=m1), one(False, md=m2), one(False, area="small", md=m2),
            one(False, area="medium", md=m2), one(False, area="large", md=m2)]
    return dict(zip(STAT_KEYS, vals))
