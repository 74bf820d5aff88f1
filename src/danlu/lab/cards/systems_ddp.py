"""sys-ddp: data parallelism is a bigger batch split over processes (multi-GPU / distributed notes).

Two gloo processes on the CPU, each with batch b, run danlu's Trainer under DDP (gradients
all-reduced and averaged); one process runs the same Trainer with batch 2b; both start from the
same seed and see the same samples each step (DistributedSampler splits the same permutation).
The card records the weights after every step and measures how far apart the two runs drift,
relative to how far the weights moved. A control run (one process, batch b: not the same
global batch) shows what a real difference looks like on the same scale. Several seeds run in the
same two spawned processes (one process group), so extra seeds cost little.
"""

from __future__ import annotations

import os
import pathlib
import tempfile
from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card

TOL = 1e-4  # relative drift that still counts as "the same up to float rounding"
CONTROL_FACTOR = 100  # the control must drift at least this many times TOL


def sys_ddp_rule(drift: float, control: float, tol: float = TOL) -> bool | None:
    """Held when the 2-process DDP run (batch b each) stays within `tol` = 1e-4 of the 1-process
    batch-2b run at every step of every seed (drift: the largest ||w_ddp - w_2b|| / ||w_2b - w_0||),
    AND the control (1 process, batch b: the wrong global batch) drifts more than 100 x tol = 1e-2 in
    every seed (control: the smallest over seeds of its largest drift), so the measure can tell a real
    difference from rounding. The margin is from the noise: float32 all-reduce and mean reorder the
    additions, which moves the weights by ~1e-7 relative over these steps (a few float32 epsilons per
    step); 1e-4 is 1000x that, and a real difference (the control) is ~0.2-0.4. Not held when DDP
    drifts by 1e-4 or more. Inconclusive when the control itself stays below 1e-2 (the measure
    could not have seen a difference). Deterministic up to rounding; seeds change data and init.
    """
    if drift >= tol:
        return False
    return True if control > CONTROL_FACTOR * tol else None


def _config(batch: int, steps: int, out: pathlib.Path, seed: int) -> list[str]:
    return ["data.name=gaussian_mixture", "data.args={n: 2000, dim: 16, classes: 4, std: 2.0}",
            f"data.batch_size={batch}", "model.name=mlp",
            "model.args={depth: 2, width: 64}", "optim.name=sgd", "optim.lr=0.05", "optim.weight_decay=0",
            "schedule.name=constant", "loop.epochs=100", f"loop.max_steps={steps}", "log.progress=false",
            "checkpoint.keep_last=1", f"seed={seed}", f"out_dir={out}"]


def _flat(model: torch.nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1).clone() for p in model.parameters()])  # (P,)


def _run(overrides: list[str]) -> list[torch.Tensor]:
    """Train with the Trainer and return the flat weights at start and after every step."""
    from danlu.data import load_dataset
    from danlu.runtime import seed_everything
    from danlu.train import TrainConfig, Trainer, apply_overrides
    from danlu.train.build import build_model

    weights: list[torch.Tensor] = []

    def record(event: str, trainer: Any) -> None:
        if event == "step":
            if not weights:
                weights.append(start)
            weights.append(_flat(trainer.model))

    cfg = apply_overrides(TrainConfig(), overrides)
    seed_everything(cfg.seed)  # the initial weights, rebuilt exactly as the Trainer builds them
    start = _flat(build_model(cfg, load_dataset(cfg.data.name, seed=cfg.seed, **cfg.data.args)))
    Trainer(cfg, callbacks=[record]).fit()
    return weights


def _worker(rank: int, world: int, port: int, configs: list[list[str]], result: str) -> None:
    """One DDP process (spawned): join the gloo group through torchrun-style env vars, train every
    config in turn (one process group for all), save the weights of each."""
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    from danlu.train.distributed import shutdown

    try:
        weights = [torch.stack(_run(overrides)) for overrides in configs]
        if rank == 0:
            torch.save(weights, result)
    finally:
        shutdown()


@card(
    id="sys-ddp",
    title="DDP with 2 x batch b equals 1 process with batch 2b",
    claim=("Two data-parallel processes with per-process batch b follow the same weights, step by step, as one "
           "process with batch 2b from the same seed, up to float rounding."),
    source="note 002: multi-GPU and distributed training (split the batch, all-reduce the gradients)",
    area="systems",
    quick={"steps": 12, "batch": 16, "seeds": 3},
    full={"steps": 200, "batch": 32, "seeds": 3},
    rule=sys_ddp_rule,
)
def sys_ddp(ctx: CardContext) -> CardResult:
    import torch.multiprocessing as mp

    from danlu.lab.evidence import estimate, seeds_for
    from danlu.plotting import subplots
    from danlu.train.distributed import free_port

    steps, b = int(ctx.budget["steps"]), int(ctx.budget["batch"])
    seeds = seeds_for(ctx.seed, int(ctx.budget["seeds"]))
    threads = torch.get_num_threads()
    drifts, controls, abs_diffs = [], [], []
    with tempfile.TemporaryDirectory(prefix="danlu-sys-ddp-") as tmp:
        root = pathlib.Path(tmp)
        result = root / "ddp.pt"
        configs = [_config(b, steps, root / f"ddp-{s}", s) for s in seeds]
        try:
            mp.start_processes(_worker, args=(2, free_port(), configs, str(result)), nprocs=2, start_method="spawn",
                               join=True)
        finally:
            torch.set_num_threads(threads)
        ddp_all = torch.load(result, weights_only=True)  # per seed: (steps + 1, P)
        for s, ddp in zip(seeds, ddp_all):
            big = torch.stack(_run(_config(2 * b, steps, root / f"big-{s}", s)))  # (steps + 1, P)
            small = torch.stack(_run(_config(b, steps, root / f"small-{s}", s)))  # control: batch b, 1 process
            moved = (big - big[0]).norm(dim=1).clamp(min=1e-12)  # (steps + 1,)
            drift = (ddp - big).norm(dim=1) / moved  # (steps + 1,)
            control = (small - big).norm(dim=1) / moved
            drift[0] = control[0] = 0.0
            drifts.append(drift)
            controls.append(control)
            abs_diffs.append((float((ddp - big).abs().max()), float((small - big).abs().max())))
    worst = max(float(d.max()) for d in drifts)
    ctrl = min(float(c[1:].max()) for c in controls)
    held = sys_ddp_rule(worst, ctrl)

    fig, axes = subplots(width=6.0, height=3.6)
    ax = axes[0][0]
    x = list(range(1, steps + 1))
    for i, (d, c) in enumerate(zip(drifts, controls)):
        ax.semilogy(x, d[1:].clamp(min=1e-12).tolist(), "o-", color="tab:blue", ms=4, alpha=0.9 - 0.2 * i,
                    label="2 procs x b  vs  1 proc x 2b" if i == 0 else None)
        ax.semilogy(x, c[1:].clamp(min=1e-12).tolist(), "s--", color="tab:orange", ms=4, alpha=0.9 - 0.2 * i,
                    label="control: 1 proc x b  vs  1 proc x 2b" if i == 0 else None)
    ax.axhline(TOL, color="gray", lw=0.8, ls=":", label=f"tolerance {TOL:g}")
    ax.axhline(CONTROL_FACTOR * TOL, color="tab:orange", lw=0.8, ls=":", label=f"control must exceed {CONTROL_FACTOR * TOL:g}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("||w_a - w_b|| / ||w_2b - w_0||")
    ax.set_title(f"{len(seeds)} seeds (one line each)")
    ax.legend(fontsize=7)
    ctx.figure("weight-diff", fig, caption="Relative weight difference per step (log scale), one line per seed.")

    table = []
    for s, d, c, (dabs, cabs) in zip(seeds, drifts, controls, abs_diffs):
        table.append({"seed": s, "run": "2 gloo procs, batch b each (DDP)", "b": b, "global batch": 2 * b, "steps": steps,
                      "max rel. diff vs 1 x 2b": float(d.max()), "max |dw|": dabs})
        table.append({"seed": s, "run": "1 proc, batch b (control)", "b": b, "global batch": b, "steps": steps,
                      "max rel. diff vs 1 x 2b": float(c[1:].max()), "max |dw|": cabs})
    est = estimate([float(d.max()) for d in drifts])
    text = f"max {worst:.2e} over {len(seeds)} seeds (mean {est.mean:.2e}; needs < {TOL:g})"
    reason = (f"Over {steps} SGD steps and {len(seeds)} seeds the 2-process DDP run (batch {b} each) stayed within "
              f"{worst:.2e} (relative) of the 1-process batch-{2 * b} run; held requires < {TOL:g}. The control with "
              f"the wrong global batch drifted to at least {ctrl:.2e} in every seed (it must exceed "
              f"{CONTROL_FACTOR * TOL:g}).")
    notes = ("Same seed and data order; the only differences are the order of float additions in the all-reduce "
             "and the loss mean. Randomness that differs per process (dropout masks, augmentation) would add more.")
    return CardResult(table=table, held=held, reason=reason, notes=notes, effects={"DDP drift vs 1 x 2b": (est, text)},
                      extra={"relative_diff": [d.tolist() for d in drifts],
                             "control_relative_diff": [c.tolist() for c in controls]})
