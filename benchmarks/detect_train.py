"""SSD training: danlu vs torchvision's SSD at equal backbone, anchors, data, optimizer and steps.

Two measurements, both on the ``shapes`` dataset (64x64 px, 4 classes):

1. step time at batch 32 (forward + loss + backward + AdamW step), interleaved rounds, median
   per-step time of each and the ratio danlu / torchvision;
2. accuracy: both trained by the same loop (same batches, AdamW 3e-3, cosine with warmup, same
   steps and the same initial weights per seed: danlu.detection.reference makes the two models
   the same function), then test COCO AP50 / AP of each
   (danlu.metrics.detection, identical to pycocotools).

    OMP_NUM_THREADS=1 python benchmarks/detect_train.py                 # timing + 2 seeds x 600 steps
    OMP_NUM_THREADS=1 python benchmarks/detect_train.py --seeds 0       # timing only
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from danlu.data import load_dataset
from danlu.detection.evaluate import coco_stats
from danlu.detection.reference import SIZES, WIDTHS, copy_weights, torchvision_ssd, tv_inputs
from danlu.optim import create_optimizer, create_schedule
from danlu.train.tasks import create_task


def models(seed: int, image_size: int):
    task = create_task("detection", {"widths": WIDTHS, "sizes": SIZES})
    torch.manual_seed(seed)
    ours = task.make_model(4, image_size)
    tv = torchvision_ssd(4, image_size)
    copy_weights(ours, tv)  # the same initial weights: the two differ only in their loss code
    return task, ours, tv


def step_fns(task, ours, tv):
    def danlu_loss(x, t):
        return task.loss(ours, x, t)[0]

    def tv_loss(x, t):
        images, targets = tv_inputs(x, t)
        return sum(tv(images, targets).values())

    return {"danlu": (ours, danlu_loss), "torchvision": (tv, tv_loss)}


def timing(splits, image_size: int, batch: int, steps: int, rounds: int) -> dict[str, float]:
    task, ours, tv = models(0, image_size)
    task.describe_data(splits)
    x, t = splits.train.tensors[0][:batch], splits.train.tensors[1][:batch]
    per: dict[str, list[float]] = {"danlu": [], "torchvision": []}
    fns = step_fns(task, ours, tv)
    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-3) for k, (m, _) in fns.items()}
    for r in range(rounds + 1):
        for name, (m, loss_fn) in fns.items():
            m.train()
            t0 = time.perf_counter()
            for _ in range(steps):
                loss = loss_fn(x, t)
                opts[name].zero_grad(set_to_none=True)
                loss.backward()
                opts[name].step()
            if r > 0:  # round 0 warms up
                per[name].append((time.perf_counter() - t0) / steps)
    return {k: statistics.median(v) for k, v in per.items()}


def train_both(splits, seed: int, steps: int, batch: int, image_size: int) -> dict[str, dict[str, float]]:
    task, ours, tv = models(seed, image_size)
    task.describe_data(splits)
    fns = step_fns(task, ours, tv)
    x, t = splits.train.tensors[:2]
    g = torch.Generator().manual_seed(seed)
    order = torch.cat([torch.randperm(len(x), generator=g) for _ in range(steps * batch // len(x) + 1)])
    out = {}
    for name, (m, loss_fn) in fns.items():
        opt = create_optimizer("adamw", m, lr=3e-3, weight_decay=5e-4)
        sched = create_schedule("cosine", opt, total_steps=steps, warmup_steps=steps // 10)
        m.train()
        for s in range(steps):
            idx = order[s * batch:(s + 1) * batch]
            loss = loss_fn(x[idx], t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        m.eval()
        xt, tt = splits.test.tensors[:2]
        with torch.no_grad():
            if name == "danlu":
                dets = task.detect(m, xt)
            else:
                dets = m(tv_inputs(xt, tt)[0])
        st = coco_stats(tt, dets, task.image_hw, task.classes)
        out[name] = {"AP50": st["AP50"], "AP": st["AP"]}
        print(f"  seed {seed} {name:12s} AP50 {st['AP50']:.3f}  AP {st['AP']:.3f}", flush=True)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--time-steps", type=int, default=5, help="steps per timing round")
    p.add_argument("--rounds", type=int, default=5, help="timing rounds (interleaved)")
    p.add_argument("--steps", type=int, default=600, help="training steps for the accuracy comparison")
    p.add_argument("--seeds", type=int, default=2, help="seeds for the accuracy comparison (0: skip)")
    a = p.parse_args()
    splits = load_dataset("shapes", n=1500, image_size=a.image_size, seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), batch {a.batch}, {a.image_size} px")
    tm = timing(splits, a.image_size, a.batch, a.time_steps, a.rounds)
    print(f"step time: danlu {tm['danlu'] * 1e3:.1f} ms, torchvision {tm['torchvision'] * 1e3:.1f} ms, "
          f"ratio danlu/torchvision {tm['danlu'] / tm['torchvision']:.2f}x")
    if a.seeds:
        res = [train_both(load_dataset("shapes", n=1500, image_size=a.image_size, seed=s), s, a.steps, a.batch,
                          a.image_size) for s in range(a.seeds)]
        for k in ("AP50", "AP"):
            d = [r["danlu"][k] for r in res]
            v = [r["torchvision"][k] for r in res]
            print(f"{k}: danlu {statistics.mean(d):.3f}, torchvision {statistics.mean(v):.3f}, "
                  f"difference {statistics.mean(d) - statistics.mean(v):+.3f} ({a.seeds} seeds, {a.steps} steps)")


if __name__ == "__main__":
    main()
