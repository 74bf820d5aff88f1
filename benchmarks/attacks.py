"""Attack speed: danlu's FGSM / PGD-10 / PGD-L2-10 vs torchattacks on the same model and batch; and the
corruption table of a MNIST-5k model.

Targets (issue 17): PGD-10 on a batch of 256 MNIST images no slower than torchattacks' PGD on the same
model; the corruption table for a MNIST-5k model in under 1 minute on 2 CPU cores.

Timings interleave the two implementations (danlu, peer, danlu, peer, ...) after a warm-up, so a
shared machine's load hits both alike; the ratio danlu / peer is reported with a 95% interval over
repeats (log-ratio t interval, danlu.lab.evidence). Outputs are also compared (max |diff|).

    OMP_NUM_THREADS=1 python -P benchmarks/attacks.py [--repeats 7] [--device cpu] [--skip-attacks]

(``-P``: benchmarks/select_grand.py would otherwise shadow the standard library's ``select``.)
"""

from __future__ import annotations

import argparse
import time

import torch


def _model(device: torch.device) -> torch.nn.Module:
    from danlu.models import create_model

    torch.manual_seed(0)
    return create_model("cnn", in_channels=1, num_classes=10, widths=[16, 32, 64], norm="bn").to(device).eval()


def _time(fn, sync) -> float:
    sync()
    t = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t


def attacks(device: torch.device, repeats: int) -> list[dict]:
    import torchattacks

    from danlu.data import load_dataset
    from danlu.lab.evidence import log_ratio, ratio_text
    from danlu.robust import fgsm, pgd

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    model = _model(device)
    x, y = load_dataset("mnist5k", seed=0).train.tensors
    x, y = x[:256].to(device), y[:256].to(device)
    cases = {
        "FGSM": (lambda: fgsm(model, x, y, eps=0.1), lambda: torchattacks.FGSM(model, eps=0.1)(x, y)),
        "PGD-10 L-inf": (lambda: pgd(model, x, y, eps=0.1, alpha=0.01, steps=10),
                         lambda: torchattacks.PGD(model, eps=0.1, alpha=0.01, steps=10)(x, y)),
        "PGD-10 L2": (lambda: pgd(model, x, y, eps=1.5, alpha=0.2, steps=10, norm="l2"),
                      lambda: torchattacks.PGDL2(model, eps=1.5, alpha=0.2, steps=10)(x, y)),
    }
    rows = []
    for name, (ours, peer) in cases.items():
        torch.manual_seed(1)
        a = ours()
        torch.manual_seed(1)
        b = peer()
        diff = float((a - b).abs().max())
        t_ours, t_peer = [], []
        for _ in range(repeats):
            t_ours.append(_time(ours, sync))
            t_peer.append(_time(peer, sync))
        est = log_ratio(t_ours, t_peer)
        rows.append({"attack": name, "danlu s": min(t_ours), "torchattacks s": min(t_peer),
                     "ratio": ratio_text(est), "max |diff|": diff})
    return rows


def corruption_timing(device: torch.device) -> dict:
    from danlu.data import load_dataset
    from danlu.robust.corruptions.benchmark import corruption_table

    model = _model(device)
    x, y = load_dataset("mnist5k", seed=0).test.tensors
    t, c = time.perf_counter(), time.process_time()
    table = corruption_table(model, x.to(device), y.to(device), progress=False)
    return {"images": len(x), "cells": sum(len(v) for v in table.accuracy.values()),
            "seconds": time.perf_counter() - t, "cpu": time.process_time() - c}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip-attacks", action="store_true", help="time only the corruption table")
    args = p.parse_args()
    device = torch.device(args.device)
    import torchattacks

    print(f"# attacks: batch 256 MNIST-5k, danlu's default cnn (16-32-64, bn), {device}, torch {torch.__version__}, "
          f"torchattacks {torchattacks.__version__}, threads={torch.get_num_threads()}, {args.repeats} repeats\n")
    print("| attack | danlu s (min) | torchattacks s (min) | danlu / torchattacks | max abs diff |")
    print("|---|---:|---:|---|---:|")
    for r in ([] if args.skip_attacks else attacks(device, args.repeats)):
        print(f"| {r['attack']} | {r['danlu s']:.4f} | {r['torchattacks s']:.4f} | {r['ratio']} | {r['max |diff|']:.1e} |")
    c = corruption_timing(device)
    print(f"\ncorruption table: {c['cells']} cells x {c['images']} test images in {c['seconds']:.1f} s wall, "
          f"{c['cpu']:.1f} s CPU (target: under 60 s)")


if __name__ == "__main__":
    main()
