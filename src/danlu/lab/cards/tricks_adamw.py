"""tr-adamw: Adam with L2 vs AdamW over a learning-rate x weight-decay grid (note 004, Adam/AdamW note).

Loshchilov & Hutter ("Decoupled Weight Decay Regularization", arXiv:1711.05101, Fig. 2) show that
with L2 folded into Adam's gradient the best weight decay moves with the learning rate (a diagonal
good region), while decoupled decay gives a good region more aligned with the axes.

Comparison: the same MLP, data order and initial weights for every cell, trained on a small digits
subset (100 images) long enough to memorise it (~100 epochs), so that the decay regularises; both
optimizers under cosine annealing (the schedule multiplier ``eta_t`` of the paper, which scales the
lr and, for AdamW, the decay) and the same grid of decay values. Measure of the SHAPE of the good
region (not a single argmax): in each learning-rate row, the "good" cells are those within ``tol`` (1
point) of the row's best validation accuracy; their mean log10(decay) is the row's centre. The
least-squares slope of the centre against log10(lr) (decades per decade) says how far the good decay
moves with the learning rate: ~-1 or ~+1 for a diagonal region, 0 for an axis-aligned one. Held:
|slope(AdamW)| is smaller than |slope(Adam+L2)| by at least 0.25; not held: larger by at least 0.25;
inconclusive in between (the grid is half-decade coarse), or when the decay does not change the result
(median accuracy range across decays in a row below 2 points for either optimizer).

Parametrisation: the paper decouples the decay from Adam's step size alpha (``w -= eta_t * lambda * w``
with ``eta_t`` the schedule multiplier, 1 here). torch's AdamW multiplies its ``weight_decay`` by the
lr (``w -= lr * wd * w``), so for AdamW the grid axis is the per-step decay ``lambda`` and the card
passes ``weight_decay = lambda / lr``. For Adam+L2 the axis is the L2 coefficient added to the gradient.
In torch's own parametrisation (``wd = lambda / lr``) the same runs have slope ``slope(AdamW) - 1``; the
card reports it as context.
"""

from __future__ import annotations

import math

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T

MARGIN = 0.25  # decades per decade between the two |slopes| before the card calls it (fixed a priori)


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


@card(id="tr-adamw", title="AdamW vs Adam+L2: where the good (lr, weight decay) region lies",
      claim=("With decoupled weight decay (AdamW) the best weight decay depends less on the learning rate "
             "than with L2 regularisation inside Adam."),
      source="note 004: tricks column; Adam/AdamW note", area="tricks",
      quick={"lrs": [1e-3, 3e-3, 1e-2, 3e-2], "wds": [1e-4, 1e-3, 1e-2, 1e-1],
             "steps": 200, "n_train": 100, "batch": 50, "width": 48, "tol": 0.01},
      full={"lrs": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1], "wds": [1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3],
            "steps": 1500, "n_train": 300, "width": 128})
def tr_adamw(ctx: CardContext) -> CardResult:
    from danlu.models import create_model
    from danlu.optim import create_optimizer, create_schedule
    from danlu.plotting import subplots

    b = ctx.budget
    data = T.digits(ctx.seed)
    train = T.subset(data.train, b["n_train"], ctx.seed)
    lrs, tol = b["lrs"], b["tol"]
    wd_grid = {"adam_l2": b["wds"], "adamw": b["wds"]}
    grids: dict[str, list[list[float]]] = {}
    for name in ("adam_l2", "adamw"):
        grid = []
        for lr in lrs:
            row = []
            for wd in wd_grid[name]:
                torch.manual_seed(ctx.seed)
                model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
                opt = create_optimizer(name, model, lr=lr, weight_decay=wd / lr if name == "adamw" else wd,
                                       fused=True)
                sched = create_schedule("cosine", opt, total_steps=b["steps"])   # eta_t, scales the decay too
                T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, schedule=sched,
                        seed=ctx.seed)
                row.append(T.metrics(model, data.val)["acc"])
            grid.append(row)
        grids[name] = grid

    log_lr = [math.log10(lr) for lr in lrs]
    centres = {n: _centres(g, wd_grid[n], tol) for n, g in grids.items()}
    slope = {n: _slope(log_lr, c) for n, c in centres.items()}
    matters = {n: T.median([max(r) - min(r) for r in g]) for n, g in grids.items()}

    fig, axes = subplots(1, 2, width=4.4, height=3.6)
    for ax, (name, g) in zip(axes[0], grids.items(), strict=True):
        ax.imshow(g, vmin=min(min(r) for gg in grids.values() for r in gg), vmax=1.0, cmap="viridis",
                  origin="lower", aspect="auto")
        for i, row in enumerate(g):
            for j, v in enumerate(row):
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                        color="red" if v >= max(row) - tol else "white")
        lw0 = math.log10(wd_grid[name][0])
        ax.plot([c - lw0 for c in centres[name]], range(len(lrs)), "r--", lw=1)
        ax.set_xticks(range(len(wd_grid[name])), [f"{w:g}" for w in wd_grid[name]], fontsize=7)
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs], fontsize=7)
        ax.set(xlabel="per-step decay lambda" if name == "adamw" else "L2 coefficient", ylabel="learning rate",
               title=f"{name}: val acc (%), slope {slope[name]:+.2f}")
        ax.grid(False)
    ctx.figure("grid", fig, caption=f"Validation accuracy per (lr, weight decay); red = within {tol:.0%} of the "
                                    "row's best; dashed = the row centres whose slope the card compares.")

    table = [{"optimizer": name, "good-decay centre per lr (log10)": ", ".join(f"{lr:g}->{c:+.2f}" for lr, c in
                                                                           zip(lrs, centres[name], strict=True)),
              "slope (decades of decay per decade of lr)": slope[name], "best val accuracy": max(max(r) for r in g),
              "median accuracy range across decays": matters[name]} for name, g in grids.items()]
    gap = abs(slope["adam_l2"]) - abs(slope["adamw"])
    held = None
    if min(matters.values()) >= 0.02 and abs(gap) >= MARGIN:
        held = gap > 0
    reason = (f"Over lr {lrs} and decays {b['wds']}, the centre of the good-decay region (cells within {tol:.0%} of "
              f"the row best) moves {slope['adam_l2']:+.2f} decades per decade of lr for Adam+L2 and "
              f"{slope['adamw']:+.2f} for AdamW (paper parametrisation; {slope['adamw'] - 1:+.2f} in torch's "
              f"wd = lambda / lr). Held needs |AdamW| below |Adam+L2| by {MARGIN}, not held above by {MARGIN}. "
              f"The decay matters: median row range {matters['adam_l2']:.1%} / {matters['adamw']:.1%} "
              f"(inconclusive below 2%). Best val accuracy "
              f"{table[0]['best val accuracy']:.1%} (Adam+L2) vs {table[1]['best val accuracy']:.1%} (AdamW). "
              f"{b['n_train']} training digits, {b['steps']} steps, seed {ctx.seed} for every cell.")
    return CardResult(table=table, held=held, reason=reason,
                      extra={"grids": grids, "lrs": lrs, "wds": wd_grid, "slopes": slope, "seeds": [ctx.seed]},
                      notes="One seed per cell (the same initial weights and batches everywhere), so the grid's "
                            "differences come from (lr, decay) alone; the slope uses every row, not one argmax. "
                            "Without normalisation layers, an Adam step moves each weight by about lr, so the "
                            "weight norm AdamW settles at scales like lr / lambda: the useful per-step decay then "
                            "grows with lr (slope near +1 in the paper's axis, near 0 in torch's wd = lambda / lr). "
                            "The paper's ResNets are batch-normalised (scale-invariant weights), a different regime.")
