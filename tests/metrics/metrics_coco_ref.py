"""pycocotools as the reference: run COCOeval (bbox) on dicts, silently."""

from __future__ import annotations

import contextlib
import copy
import io

import numpy as np


def pycocotools_eval(gt: dict, dets: list[dict], *, iou_thrs=None, max_dets=None, area_rng=None):
    """Run pycocotools' evaluate + accumulate + summarize; returns the COCOeval object."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        c = COCO()
        c.dataset = copy.deepcopy(gt)
        c.createIndex()
        d = c.loadRes(copy.deepcopy(dets))
        E = COCOeval(c, d, "bbox")
        if iou_thrs is not None:
            E.params.iouThrs = np.asarray(iou_thrs)
        if max_dets is not None:
            E.params.maxDets = list(max_dets)
        if area_rng is not None:
            E.params.areaRng = [list(a) for a in area_rng]
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E
