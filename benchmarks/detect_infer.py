"""SSD inference end to end on a batch of 64 images: forward + decode + NMS, danlu vs torchvision's SSD.

Both models are the same function (weights copied, same anchors: danlu.detection.reference),
score threshold 0.05, NMS IoU 0.45 and 100 detections per image. Each side is timed on the path a
user takes: danlu's ``SSD.detect`` on the uint8 batch; torchvision's ``SSD`` in eval mode on its list
of float images (the conversion is part of its path). Median of interleaved rounds; the ratio is
danlu / torchvision (below 1: danlu faster).

    OMP_NUM_THREADS=1 python benchmarks/detect_infer.py
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from danlu.data import load_dataset
from danlu.detection.reference import SIZES, WIDTHS, copy_weights, torchvision_ssd
from danlu.train.tasks import create_task


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    splits = load_dataset("shapes", n=1500, image_size=64, seed=0)
    task = create_task("detection", {"widths": WIDTHS, "sizes": SIZES})
    task.describe_data(splits)
    torch.manual_seed(0)
    ours = task.make_model(4, 64)
    tv = torchvision_ssd(4, 64)
    copy_weights(ours, tv)
    ours.eval(), tv.eval()
    x = splits.test.tensors[0][: a.batch]
    sides = {"danlu": lambda: task.detect(ours, x), "torchvision": lambda: tv(list(x.float() / 255))}
    times: dict[str, list[float]] = {k: [] for k in sides}
    counts = {}
    with torch.no_grad():
        for r in range(a.rounds + 1):
            for name, fn in sides.items():
                t0 = time.perf_counter()
                out = fn()
                if r > 0:
                    times[name].append(time.perf_counter() - t0)
                counts[name] = sum(len(d["boxes"]) for d in out)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {a.batch}, 64 px, untrained weights")
    for k, v in med.items():
        print(f"  {k:12s} {v * 1e3:7.1f} ms per batch ({counts[k]} detections)")
    print(f"ratio danlu/torchvision {med['danlu'] / med['torchvision']:.2f}x")


if __name__ == "__main__":
    main()
