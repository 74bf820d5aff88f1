"""``danlu eval``: detection mAP from files (COCO stats identical to pycocotools; VOC 07/10+)."""

from __future__ import annotations

import argparse

NAME = "eval"
HELP = "detection mAP from JSON files: COCO's 12 stats (= pycocotools) or VOC 07/10+ AP"
DESCRIPTION = """\
Evaluate detections against ground truth and print the numbers as JSON.

  danlu eval coco GT.json DETS.json [--per-class]
      the 12 COCO stats (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl),
      identical to pycocotools' COCOeval (bbox); -1 where pycocotools gives -1.
  danlu eval voc GT DETS.json [--metric voc07|voc10] [--iou 0.5]
      VOC mAP and per-class AP with voc_eval's rules; GT is a COCO JSON or a folder of VOC XML
      files (then image_id = the XML file stem and category_id = the class name).

DETS.json is a COCO results list: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}].
Bad input (malformed JSON, unknown image or category id, negative width, NaN score) is reported
with the offending entry, and nothing is printed to stdout.

examples:
  danlu eval coco instances_val2017.json dets.json
  danlu eval coco instances_val2017.json dets.json --per-class > metrics.json
  danlu eval voc VOC2007/Annotations dets.json --metric voc07
  danlu eval voc instances_val2017.json dets.json --iou 0.5 --metric voc10
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    c = sub.add_parser("coco", help="COCO AP@[.5:.95] and the 12 stats")
    c.add_argument("gt", metavar="GT.json", help="COCO ground truth (images, annotations, categories)")
    c.add_argument("dets", metavar="DETS.json", help="COCO detection results list")
    c.add_argument("--per-class", action="store_true", help="add per-class AP, AP50, AP75")
    v = sub.add_parser("voc", help="VOC 11-point (voc07) or all-point (voc10) AP")
    v.add_argument("gt", metavar="GT", help="COCO JSON or a folder of VOC XML annotations")
    v.add_argument("dets", metavar="DETS.json", help="COCO detection results list")
    v.add_argument("--metric", default="voc10", help="voc07 (11-point) or voc10 (all-point, default)")
    v.add_argument("--iou", type=float, default=0.5, help="IoU threshold, strict > (default 0.5)")
    v.add_argument("--pixel-inclusive", choices=("auto", "yes", "no"), default="auto",
                   help="add 1 to widths/heights as voc_eval (auto: yes for XML, no for COCO JSON)")


def _clean(x: float) -> float | None:
    return None if x != x else round(float(x), 12)  # NaN -> null (JSON has no NaN)


def run(args: argparse.Namespace) -> int:
    import json

    from danlu.metrics.detection import coco_map, voc_map

    if args.protocol == "coco":
        res = coco_map(args.gt, args.dets)
        out: dict = {k: float(v) for k, v in res.stats.items()}
        if args.per_class:
            out["per_class"] = {str(cid): {"name": r["name"], "AP": r["AP"], "AP50": r["AP50"], "AP75": r["AP75"]}
                                for cid, r in res.per_class.items()}
    else:
        inclusive = {"auto": None, "yes": True, "no": False}[args.pixel_inclusive]
        res = voc_map(args.gt, args.dets, metric=args.metric, iou=args.iou, pixel_inclusive=inclusive)
        out = {"metric": res["metric"], "iou": res["iou"], "mAP": _clean(res["mAP"]),
               "per_class": {str(cid): {"name": r["name"], "AP": _clean(r["AP"]), "npos": r["npos"]}
                             for cid, r in res["per_class"].items()}}
    print(json.dumps(out, indent=2))
    return 0
