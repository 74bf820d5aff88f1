"""``danlu eval coco GT.json DETS.json``: the 12 COCO stats, identical to pycocotools' COCOeval (bbox)."""

from __future__ import annotations

import argparse

NAME = "coco"
HELP = "COCO AP@[.5:.95] and the 12 stats"
USAGE = """\
  danlu eval coco GT.json DETS.json [--per-class]
      the 12 COCO stats (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl),
      identical to pycocotools' COCOeval (bbox); -1 where pycocotools gives -1.
      DETS.json is a COCO results list: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}]."""
EXAMPLES = ["danlu eval coco instances_val2017.json dets.json",
            "danlu eval coco instances_val2017.json dets.json --per-class > metrics.json"]


def add_arguments(c: argparse.ArgumentParser) -> None:
    c.add_argument("gt", metavar="GT.json", help="COCO ground truth (images, annotations, categories)")
    c.add_argument("dets", metavar="DETS.json", help="COCO detection results list")
    c.add_argument("--per-class", action="store_true", help="add per-class AP, AP50, AP75")


def run(args: argparse.Namespace) -> int:
    import json

    from danlu.metrics.detection import coco_map

    res = coco_map(args.gt, args.dets)
    out: dict = {k: float(v) for k, v in res.stats.items()}
    if args.per_class:
        out["per_class"] = {str(cid): {"name": r["name"], "AP": r["AP"], "AP50": r["AP50"], "AP75": r["AP75"]}
                            for cid, r in res.per_class.items()}
    print(json.dumps(out, indent=2))
    return 0
