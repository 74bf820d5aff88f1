"""COCO bbox mAP: danlu vs pycocotools vs faster-coco-eval on a synthetic COCO-val-sized workload.

Workload (default): 5,000 images, 80 categories, ~7 ground-truth boxes and 100 detections per image
(``danlu.metrics.detection.synthetic.synthetic_coco``), one run on the CPU, all in one process.

Two timings per tool, both from the same parsed JSON objects (a ground-truth dict and a detection
list) held in memory:

- ``eval``: evaluate + accumulate + summarize (the phase the issue names). For pycocotools and
  faster-coco-eval this excludes building ``COCO`` and ``loadRes``; for danlu it excludes
  ``load_coco_gt`` / ``load_coco_dets`` (dicts -> validated arrays).
- ``end-to-end``: from the parsed objects to the 12 stats, loading included.

The 12 stats of all three are printed side by side (danlu and pycocotools must agree exactly).

    python benchmarks/detection_map.py                 # full workload, ~2-3 minutes
    python benchmarks/detection_map.py --images 500    # smaller
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import platform
import time

import numpy as np


def _pycoco(mod_coco, mod_eval, gt: dict, dets: list, cls_name: str = "COCOeval") -> tuple[np.ndarray, float, float]:
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        c = mod_coco.COCO()
        c.dataset = gt
        c.createIndex()
        d = c.loadRes(dets)
        t1 = time.perf_counter()
        E = getattr(mod_eval, cls_name)(c, d, "bbox")
        E.evaluate()
        E.accumulate()
        E.summarize()
        t2 = time.perf_counter()
    return np.asarray(E.stats[:12]), t2 - t1, t2 - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--categories", type=int, default=80)
    ap.add_argument("--gt-per-image", type=float, default=7.0)
    ap.add_argument("--dets-per-image", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-pycocotools", action="store_true")
    args = ap.parse_args()

    from danlu.metrics.detection import STAT_KEYS, evaluate_coco, load_coco_dets, load_coco_gt
    from danlu.metrics.detection.synthetic import synthetic_coco

    t = time.perf_counter()
    gt, dets = synthetic_coco(num_images=args.images, num_categories=args.categories,
                              gt_per_image=args.gt_per_image, dets_per_image=args.dets_per_image,
                              seed=args.seed, crowded_image_frac=0.0, tie_frac=0.1)
    print(f"workload: {args.images} images, {args.categories} categories, {len(gt['annotations'])} ground "
          f"truths, {len(dets)} detections (generated in {time.perf_counter() - t:.1f} s)")

    rows = {}
    t0 = time.perf_counter()
    g = load_coco_gt(gt)
    d = load_coco_dets(dets, g)
    t1 = time.perf_counter()
    res = evaluate_coco(g, d)
    t2 = time.perf_counter()
    rows["danlu"] = (np.array([res.stats[k] for k in STAT_KEYS]), t2 - t1, t2 - t0)

    if not args.skip_pycocotools:
        from pycocotools import coco as pc_coco
        from pycocotools import cocoeval as pc_eval

        rows["pycocotools"] = _pycoco(pc_coco, pc_eval, copy.deepcopy(gt), copy.deepcopy(dets))
    try:
        import faster_coco_eval
        from faster_coco_eval.core import coco as fc_coco
        from faster_coco_eval.core import faster_eval_api as fc_eval

        rows[f"faster-coco-eval {faster_coco_eval.__version__}"] = _pycoco(
            fc_coco, fc_eval, copy.deepcopy(gt), copy.deepcopy(dets), "COCOeval_faster")
    except ImportError:
        print("faster-coco-eval not installed; skipped")

    print(f"\ndevice: CPU ({platform.processor() or platform.machine()}), numpy {np.__version__}")
    print(f"{'tool':<26}{'eval s':>10}{'end-to-end s':>14}{'eval ratio':>12}{'e2e ratio':>11}  (ratio = tool / danlu)")
    de, dt = rows["danlu"][1], rows["danlu"][2]
    for name, (_, e, tt) in rows.items():
        print(f"{name:<26}{e:>10.2f}{tt:>14.2f}{e / de:>11.1f}x{tt / dt:>10.1f}x")
    print("\nstats:")
    print(f"{'key':<7}" + "".join(f"{n[:18]:>20}" for n in rows))
    for i, k in enumerate(STAT_KEYS):
        print(f"{k:<7}" + "".join(f"{rows[n][0][i]:>20.12f}" for n in rows))
    if "pycocotools" in rows:
        diff = np.abs(rows["pycocotools"][0] - rows["danlu"][0]).max()
        print(f"\nmax |danlu - pycocotools| over the 12 stats: {diff:.3g}")


if __name__ == "__main__":
    main()
