"""tr-adamw: Adam with L2 vs AdamW over a learning-rate x weight-decay grid (note 004, Adam/AdamW note).

Loshchilov & Hutter ("Decoupled Weight Decay Regularization", arXiv:1711.05101, Fig. 2) show that
with L2 folded into Adam's gradient the best weight decay moves with the learning rate (a diagonal
good region), while decoupled decay gives a good region more aligned with the axes.

Comparison: the same MLP, data order and initial weights for every cell of both grids (per seed),
trained on a small digits subset (100 images) long enough to memorise it (~100 epochs), so that the
decay regularises; both optimizers under cosine annealing (the schedule multiplier ``eta_t`` of the
paper, which scales the lr and, for AdamW, the decay) and the same grid of learning rates and decay
values (equal hyper-parameter search for both). Measure of the SHAPE of the good region (not a single
argmax): in each learning-rate row, the "good" cells are those within ``tol`` (3 points) of the row's
best validation accuracy; their mean log10(decay) is the row's centre. The least-squares slope of the
centre against log10(lr) (decades per decade) says how far the good decay moves with the learning
rate: ~-1 or ~+1 for a diagonal region, 0 for an axis-aligned one. Per seed the card computes
``|slope(Adam+L2)| - |slope(AdamW)|`` (positive = AdamW's good decay depends less on the lr) and
decides on its interval over seeds with :func:`verdict`.

Tolerance and margin (fixed before the verdict seeds were run, from pilot seeds 10-14, never used
for a verdict): a cell's validation accuracy moves by 1.0 point (median SD over seeds) from seed to
seed, so a 1-point tolerance let noise decide which cells are "good" on the flat part of a row
(per-seed SD of the slope gap 0.50); ``tol`` = 3 points, three times the per-cell noise, gave a
per-seed SD of 0.13. The margin, 0.25 decades per decade, is about twice that SD and a quarter of
the diagonal (slope 1) vs axis-aligned (slope 0) difference.

Parametrisation: the paper decouples the decay from Adam's step size alpha (``w -= eta_t * lambda * w``
with ``eta_t`` the schedule multiplier, 1 here). torch's AdamW multiplies its ``weight_decay`` by the
lr (``w -= lr * wd * w``), so for AdamW the grid axis is the per-step decay ``lambda`` and the card
passes ``weight_decay = lambda / lr``. For Adam+L2 the axis is the L2 coefficient added to the gradient.
In torch's own parametrisation (``wd = lambda / lr``) the same runs have slope ``slope(AdamW) - 1``; the
card reports it as context.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.evidence import Estimate, decide, estimate, seeds_for, verdict_text

MARGIN = 0.25      # decades of decay per decade of lr; see the module docstring
MIN_RANGE = 0.02   # the decay must move a row's accuracy by 2 points (median row) for the grid to say anything
NAMES = {"adam_l2": "Adam+L2", "adamw": "AdamW"}


def verdict(slope_gap: Estimate, decay_matters: float, margin: float = MARGIN,
            min_range: float = MIN_RANGE) -> bool | None:
    """Held when the 95% t interval over seeds of |slope(Adam+L2)| - |slope(AdamW)| (slope against
    log10 lr of each row's good-decay centre, the mean log10 decay of the cells within 3 points of
    the row's best validation accuracy; decades per decade) lies wholly above the margin (AdamW's good
    decay moves at least 0.25 decade per decade less with the lr); not held when it lies wholly
    below the margin; inconclusive when it straddles the margin, or when the decay barely matters
    (for either optimizer the median over lr rows of the accuracy range across decays, averaged over
    seeds, is below 2 points).
    """
    if decay_matters < min_range:
        return None
    return decide(slope_gap, margin)


def _centres(grid: list[list[float]], wds: list[float], tol: float) -> list[float]:
    """Mean log10(decay) of the cells within ``tol`` of each row's best accuracy, one per row."""
    logs = [math.log10(w) for w in wds]
    out = []
    for row in grid:
        good = [lw for lw, v in zip(logs, row, strict=True) if v >= max(row) - tol]
        out.append(sum(good) / len(good))
    return out


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys on xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _grid(ctx: CardContext, name: str, seed: int, train: Any, val: Any) -> list[list[float]]:
    """Validation accuracy per (lr row, decay column) for one optimizer and one seed."""
    from danlu.models import create_model
    from danlu.optim import create_optimizer, create_schedule

    b = ctx.budget
    grid = []
    for lr in b["lrs"]:
        row = []
        for wd in b["wds"]:
            torch.manual_seed(seed)
            model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
            opt = create_optimizer(name, model, lr=lr, weight_decay=wd / lr if name == "adamw" else wd, fused=True)
            sched = create_schedule("cosine", opt, total_steps=b["steps"])   # eta_t, scales the decay too
            T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, schedule=sched, seed=seed)
            row.append(T.metrics(model, val)["acc"])
        grid.append(row)
    return grid


def _figure(ctx: CardContext, mean_grid: dict[str, list[list[float]]], slopes: dict[str, Estimate], n: int) -> None:
    from matplotlib import patheffects
    from matplotlib.patches import Rectangle

    from danlu.plotting import pyplot, subplots

    b = ctx.budget
    lrs, wds, tol = b["lrs"], b["wds"], b["tol"]
    lo = min(min(r) for g in mean_grid.values() for r in g)
    cmap, norm = pyplot().get_cmap("viridis"), pyplot().Normalize(vmin=lo, vmax=1.0)
    halo = [patheffects.withStroke(linewidth=3, foreground="black")]
    fig, axes = subplots(1, 2, width=4.6, height=3.8)
    for ax, (name, g) in zip(axes[0], mean_grid.items(), strict=True):
        ax.imshow(g, cmap=cmap, norm=norm, origin="lower", aspect="auto")
        for i, row in enumerate(g):
            for j, v in enumerate(row):
                r, gg, bb, _ = cmap(norm(v))
                light = 0.299 * r + 0.587 * gg + 0.114 * bb > 0.5     # black text on light cells, white on dark
                good = v >= max(row) - tol
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=8, zorder=5,
                        fontweight="bold" if good else "normal", color="black" if light else "white",
                        bbox={"boxstyle": "round,pad=0.2", "fc": cmap(norm(v)), "ec": "none"})  # over the line
                if good:
                    ax.add_patch(Rectangle((j - 0.45, i - 0.45), 0.9, 0.9, fill=False, edgecolor="white", lw=1.8,
                                           path_effects=halo))
        lw0 = math.log10(wds[0])
        centres = _centres(g, wds, tol)
        ax.plot([c - lw0 for c in centres], range(len(lrs)), "--", color="white", lw=1.5, path_effects=halo, zorder=4)
        ax.set_xticks(range(len(wds)), [f"{w:g}" for w in wds], fontsize=7)
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs], fontsize=7)
        s = slopes[name]
        ax.set(xlabel="per-step decay lambda" if name == "adamw" else "L2 coefficient", ylabel="learning rate",
               title=f"{NAMES[name]}: val acc %, mean of {n} seeds\nslope {s.mean:+.2f} ± {s.half_width:.2f}")
        ax.grid(False)
    ctx.figure("grid", fig, caption=f"Validation accuracy per (lr, weight decay), mean over seeds; boxed, bold = "
                                    f"within {tol:.0%} of the row's best; dashed = the row centres of the good "
                                    "cells (the slope's interval is over per-seed slopes).")


@card(id="tr-adamw", title="AdamW vs Adam+L2: where the good (lr, weight decay) region lies",
      claim=("With decoupled weight decay (AdamW) the best weight decay depends less on the learning rate "
             "than with L2 regularisation inside Adam."),
      source="note 004: tricks column; Adam/AdamW note", area="tricks", rule=verdict, slow=True,
      quick={"seeds": 5, "lrs": [1e-3, 3e-3, 1e-2, 3e-2], "wds": [1e-4, 1e-3, 1e-2, 1e-1],
             "steps": 200, "n_train": 100, "batch": 50, "width": 48, "tol": 0.03},
      full={"seeds": 5, "lrs": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
            "wds": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3], "steps": 1500, "n_train": 300,
            "width": 128})
def tr_adamw(ctx: CardContext) -> CardResult:
    b = ctx.budget
    data = T.digits(ctx.seed)
    train = T.subset(data.train, b["n_train"], ctx.seed)
    lrs, wds, tol = b["lrs"], b["wds"], b["tol"]
    seeds = seeds_for(ctx.seed, b["seeds"])
    grids = {name: [_grid(ctx, name, s, train, data.val) for s in seeds] for name in NAMES}

    log_lr = [math.log10(lr) for lr in lrs]
    per_seed = {n: [_slope(log_lr, _centres(g, wds, tol)) for g in gs] for n, gs in grids.items()}
    slopes = {n: estimate(v) for n, v in per_seed.items()}
    gap = estimate([abs(a) - abs(w) for a, w in zip(per_seed["adam_l2"], per_seed["adamw"], strict=True)])
    matters = {n: sum(T.median([max(r) - min(r) for r in g]) for g in gs) / len(gs) for n, gs in grids.items()}
    held = verdict(gap, min(matters.values()))
    mean_grid = {n: [[sum(g[i][j] for g in gs) / len(gs) for j in range(len(wds))] for i in range(len(lrs))]
                 for n, gs in grids.items()}
    _figure(ctx, mean_grid, slopes, len(seeds))

    table = [{"optimizer": NAMES[n], "slope per seed (decades of decay per decade of lr)":
              ", ".join(f"{v:+.2f}" for v in per_seed[n]),
              "slope (mean, 95% CI)": f"{slopes[n].mean:+.2f} ± {slopes[n].half_width:.2f}",
              "good-decay centre per lr, seed mean grid (log10)":
                  ", ".join(f"{lr:g}->{c:+.2f}" for lr, c in zip(lrs, _centres(mean_grid[n], wds, tol), strict=True)),
              "best val accuracy (seed mean grid)": max(max(r) for r in mean_grid[n]),
              "median accuracy range across decays": matters[n]} for n in NAMES]
    gap_txt = gap.describe(unit=" decades/decade", digits=2)
    reason = (f"Over lr {lrs} and decays {wds}, seeds {seeds[0]}-{seeds[-1]}: the centre of the good-decay region "
              f"(cells within {tol:.0%} of the row best) moves {slopes['adam_l2'].mean:+.2f} decades per decade of "
              f"lr for Adam+L2 and {slopes['adamw'].mean:+.2f} for AdamW (paper parametrisation; "
              f"{slopes['adamw'].mean - 1:+.2f} in torch's wd = lambda / lr); |Adam+L2| - |AdamW| = {gap_txt}. "
              f"{verdict_text(held).capitalize()}: held needs that interval above {MARGIN}. The decay matters: "
              f"median row range {matters['adam_l2']:.1%} / {matters['adamw']:.1%} (inconclusive below "
              f"{MIN_RANGE:.0%}). {b['n_train']} training digits, {b['steps']} steps per cell.")
    return CardResult(table=table, held=held, reason=reason, effects={"|slope Adam+L2| - |slope AdamW|": (gap, gap_txt)},
                      extra={"grids": grids, "lrs": lrs, "wds": wds, "slopes": per_seed, "seeds": seeds},
                      notes="Per seed, every cell starts from the same initial weights and sees the same batches, so "
                            "a grid's differences come from (lr, decay) alone; the slope uses every row, not one "
                            "argmax. Without normalisation layers, an Adam step moves each weight by about lr, so "
                            "the weight norm AdamW settles at scales like lr / lambda: the useful per-step decay "
                            "then grows with lr (slope near +1 in the paper's axis, near 0 in torch's wd = lambda / "
                            "lr). The paper's ResNets are batch-normalised (scale-invariant weights), a different "
                            "regime.")
