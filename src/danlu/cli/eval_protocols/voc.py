"""``danlu eval voc GT DETS.json``: VOC mAP and per-class AP with voc_eval's rules."""

from __future__ import annotations

import argparse

NAME = "voc"
HELP = "VOC 11-point (voc07) or all-point (voc10) AP"
USAGE = """\
  danlu eval voc GT DETS.json [--metric voc07|voc10] [--iou 0.5]
      VOC mAP and per-class AP with voc_eval's rules; GT is a COCO JSON or a folder of VOC XML
      files (then image_id = the XML file stem and category_id = the class name)."""
EXAMPLES = ["danlu eval voc VOC2007/Annotations dets.json --metric voc07",
            "danlu eval voc instances_val2017.json dets.json --iou 0.5 --metric voc10"]


def add_arguments(v: argparse.ArgumentParser) -> None:
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

    from danlu.metrics.detection import voc_map

    inclusive = {"auto": None, "yes": True, "no": False}[args.pixel_inclusive]
    res = voc_map(args.gt, args.dets, metric=args.metric, iou=args.iou, pixel_inclusive=inclusive)
    out = {"metric": res["metric"], "iou": res["iou"], "mAP": _clean(res["mAP"]),
           "per_class": {str(cid): {"name": r["name"], "AP": _clean(r["AP"]), "npos": r["npos"]}
                         for cid, r in res["per_class"].items()}}
    print(json.dumps(out, indent=2))
    return 0
