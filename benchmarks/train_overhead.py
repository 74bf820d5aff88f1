"""Trainer overhead: danlu's Trainer vs a bare hand-written torch loop, same model, data and optimizer.

Both loops train the same network on the same data with AdamW + cosine schedule and cross-entropy;
steps/s is CPU time of this process (``time.process_time``, all its threads, so other jobs on a
shared machine do not skew it) from the end of the first optimizer step to the end of the last (start-up and
the final evaluation and checkpoint are outside the window; epoch-end evaluation and checkpoints
are switched off so that both loops do the same work). The Trainer keeps everything it does
per step: sampler, meters, NaN guard (gradient norm), LR schedule, JSONL logging and the progress
bar. Runs are interleaved and the median of the repeats is reported.

    OMP_NUM_THREADS=1 python benchmarks/train_overhead.py --steps 150 --repeats 3

Target: trainer / bare >= 0.95 on the default CNN.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time

import torch
from torch import nn

from danlu.data import load_dataset
from danlu.models import create_model
from danlu.optim import create_optimizer, create_schedule
from danlu.runtime import seed_everything
from danlu.train import TrainConfig, Trainer, apply_overrides

CASES = {
    "cnn/mnist5k (default)": (["model.name=cnn", "data.name=mnist5k", "data.batch_size=64"],
                              "mnist5k", {}, "cnn", {"in_channels": 1, "num_classes": 10, "widths": [16, 32, 64],
                                                     "norm": "bn", "image_size": 28}),
    "mlp/digits (tiny steps)": (["model.name=mlp", "model.args={depth: 2, width: 128}", "data.name=digits",
                                 "data.args={flatten: true}", "data.batch_size=32"],
                                "digits", {"flatten": True}, "mlp",
                                {"in_features": 64, "num_classes": 10, "depth": 2, "width": 128}),
}


def trainer_steps_per_s(overrides: list[str], steps: int, progress: bool) -> float:
    stamps: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        cfg = apply_overrides(TrainConfig(), [*overrides, "loop.epochs=1000", f"loop.max_steps={steps}",
                                              "loop.eval_every=1000", "checkpoint.every_epochs=0",
                                              f"log.progress={str(progress).lower()}", f"out_dir={tmp}"])
        Trainer(cfg, callbacks=[lambda ev, tr: stamps.append(time.process_time()) if ev == "step" else None]).fit()
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def bare_steps_per_s(dataset: str, data_args: dict, model_name: str, model_args: dict, batch: int,
                     steps: int) -> float:
    seed_everything(0)
    train = load_dataset(dataset, seed=0, **data_args).train
    model = create_model(model_name, **model_args)
    opt = create_optimizer("adamw", model, lr=5e-3, weight_decay=0.01)
    sched = create_schedule("cosine", opt, total_steps=steps)
    loader = torch.utils.data.DataLoader(train, batch_size=batch, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    loss_fn = nn.CrossEntropyLoss()
    stamps: list[float] = []
    model.train()
    while len(stamps) < steps:
        for x, y in loader:
            loss = loss_fn(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            stamps.append(time.process_time())
            if len(stamps) == steps:
                break
    return (len(stamps) - 1) / (stamps[-1] - stamps[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-progress", action="store_true", help="time the Trainer without the progress bar")
    args = ap.parse_args()
    rows = []
    for name, (overrides, dataset, data_args, model_name, model_args) in CASES.items():
        batch = int(next(o for o in overrides if o.startswith("data.batch_size=")).split("=")[1])
        bare, ours = [], []
        for _ in range(args.repeats):
            bare.append(bare_steps_per_s(dataset, data_args, model_name, model_args, batch, args.steps))
            ours.append(trainer_steps_per_s(overrides, args.steps, not args.no_progress))
        b, t = statistics.median(bare), statistics.median(ours)
        rows.append((name, b, t, t / b))
    print(f"\n{datetime.date.today()}  {platform.processor() or platform.machine()}  torch {torch.__version__}  "
          f"threads {torch.get_num_threads()}  steps {args.steps}  repeats {args.repeats}")
    print("| case | bare loop steps/s | danlu Trainer steps/s | trainer / bare |\n|---|---:|---:|---:|")
    for name, b, t, r in rows:
        print(f"| {name} | {b:.1f} | {t:.1f} | {r:.3f} |")


if __name__ == "__main__":
    main()
