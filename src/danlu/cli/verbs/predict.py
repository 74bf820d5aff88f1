"""``danlu predict RUN_DIR --data shapes --out dets.json``: a trained run's predictions as files other tools read."""

from __future__ import annotations

import argparse

NAME = "predict"
HELP = "write a trained run's predictions (detection: COCO results JSON; segmentation: masks .npy)"
DESCRIPTION = """\
Load a `danlu train` run (its config and best checkpoint, EMA weights if it kept an EMA), run it
on a split of a dataset and write the predictions:

  detection     --out DETS.json: a COCO results list [{image_id, category_id, bbox: [x, y, w, h],
                score}], image ids 1..N in split order; --gt GT.json writes the matching COCO ground
                truth and --voc DIR the same as PASCAL VOC XML (then DETS.json uses VOC ids: file
                stems and class names), so `danlu eval coco GT.json DETS.json` or `danlu eval voc
                DIR DETS.json` scores them.
  segmentation  --out PRED.npy: (N, H, W) uint8 class per pixel; --gt TARGET.npy the true masks.

--data names the dataset (the run's own, e.g. shapes, with the run's data.args and split seed).
Existing output files are refused unless --overwrite; outputs appear only when complete.

examples:
  danlu train configs/shapes_ssd.yaml
  danlu predict runs/shapes_ssd --data shapes --out dets.json --gt gt.json
  danlu eval coco gt.json dets.json
  danlu predict runs/shapes_ssd --data shapes --split val --out dets_voc.json --voc voc_gt/
  danlu eval voc voc_gt/ dets_voc.json
  danlu predict runs/shapes_fcn --data shapes --out pred.npy --gt target.npy
"""

SPLITS = ("test", "val", "train")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", metavar="RUN_DIR", help="a `danlu train` run folder (config.yaml, checkpoints/)")
    p.add_argument("--data", required=True, metavar="NAME", help="dataset to predict on (the run's, e.g. shapes)")
    p.add_argument("--out", required=True, metavar="FILE", help="predictions file (COCO JSON or .npy)")
    p.add_argument("--gt", default=None, metavar="FILE", help="also write the split's ground truth (COCO JSON or .npy)")
    p.add_argument("--voc", default=None, metavar="DIR", help="detection: also write VOC XML ground truth to DIR "
                                                               "(and use VOC image/category ids in --out)")
    p.add_argument("--split", default="test", choices=SPLITS, help="which split of the data (default: test)")
    p.add_argument("--checkpoint", default="best", metavar="best|last|FILE", help="weights to use (default: best)")
    p.add_argument("--batch-size", type=int, default=64, metavar="N", help="images per forward pass (default 64)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def run(args: argparse.Namespace) -> int:
    from danlu.detection.predict import predict_run

    predict_run(args.run_dir, data=args.data, out=args.out, gt=args.gt, voc=args.voc, split=args.split,
                checkpoint=args.checkpoint, batch_size=args.batch_size, device=args.device,
                overwrite=args.overwrite)
    return 0
