"""tr-adamw: Adam with L2 vs AdamW over a learning-rate x weight-decay grid (note 004, Adam/AdamW note).

Loshchilov & Hutter ("Decoupled Weight Decay Regularization", arXiv:1711.05101, Fig. 2) show that
with L2 folded into Adam's gradient the best weight decay moves with the learning rate (a diagonal
good region), while decoupled decay gives a good region more aligned with the axes.

Comparison: the same MLP, data order and initial weights for every cell; an over-parameterised
MLP on a small digits subset so that regularisation matters. For each optimizer and each learning
rate we find the weight decay with the best validation accuracy, and measure how far (in grid
steps) that best decay moves across learning rates. Held: AdamW's best decay moves less.

Parametrisation: the paper decouples the decay from Adam's step size alpha (``w -= eta_t * lambda * w``
with ``eta_t`` the schedule multiplier, 1 here). torch's AdamW multiplies its ``weight_decay`` by the
lr (``w -= lr * wd * w``), so for AdamW the grid axis is the per-step decay ``lambda`` and the card
passes ``weight_decay = lambda / lr``. For Adam+L2 the axis is the L2 coefficient added to the gradient.
"""

from __future__ import annotations

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


@card(id="tr-adamw", title="AdamW vs Adam+L2: where the good (lr, weight decay) region lies",
      claim=("With decoupled weight decay (AdamW) the best weight decay depends less on the learning rate "
             "than with L2 regularisation inside Adam."),
      source="note 004: tricks column; Adam/AdamW note", area="tricks",
      quick={"lrs": [1e-3, 3e-3, 1e-2], "wds": {"adam_l2": [1e-4, 1e-3, 1e-2, 1e-1],
                                                "adamw": [1e-5, 1e-4, 1e-3, 1e-2]},
             "steps": 80, "n_train": 300, "batch": 64, "width": 48},
      full={"lrs": [3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
            "wds": {"adam_l2": [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0], "adamw": [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]},
            "steps": 600, "n_train": 500, "width": 128})
def tr_adamw(ctx: CardContext) -> CardResult:
    from danlu.models import create_model
    from danlu.optim import create_optimizer
    from danlu.plotting import subplots

    b = ctx.budget
    data = T.digits(ctx.seed)
    train = T.subset(data.train, b["n_train"], ctx.seed)
    lrs, wd_grid = b["lrs"], b["wds"]
    grids: dict[str, list[list[float]]] = {}
    for name in ("adam_l2", "adamw"):
        grid = []
        for lr in lrs:
            row = []
            for wd in wd_grid[name]:
                torch.manual_seed(ctx.seed)
                model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
                opt = create_optimizer(name, model, lr=lr, weight_decay=wd / lr if name == "adamw" else wd)
                T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, seed=ctx.seed)
                row.append(T.metrics(model, data.val)["acc"])
            grid.append(row)
        grids[name] = grid

    best_idx = {n: [max(range(len(wd_grid[n])), key=lambda j, r=row: (r[j], -j)) for row in g] for n, g in grids.items()}
    spread = {n: max(ix) - min(ix) for n, ix in best_idx.items()}

    fig, axes = subplots(1, 2, width=4.4, height=3.6)
    for ax, (name, g) in zip(axes[0], grids.items(), strict=True):
        ax.imshow(g, vmin=min(min(r) for gg in grids.values() for r in gg), vmax=1.0, cmap="viridis",
                       origin="lower", aspect="auto")
        for i, row in enumerate(g):
            for j, v in enumerate(row):
                ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=7,
                        color="red" if j == best_idx[name][i] else "white")
        ax.set_xticks(range(len(wd_grid[name])), [f"{w:g}" for w in wd_grid[name]], fontsize=7)
        ax.set_yticks(range(len(lrs)), [f"{lr:g}" for lr in lrs], fontsize=7)
        ax.set(xlabel="per-step decay lambda" if name == "adamw" else "L2 coefficient", ylabel="learning rate", title=f"{name}: val accuracy (%)")
        ax.grid(False)
    ctx.figure("grid", fig, caption="Validation accuracy per (lr, weight decay); red = best decay for that lr.")

    table = []
    for name, g in grids.items():
        table.append({"optimizer": name, "best wd per lr": ", ".join(f"{lr:g}->{wd_grid[name][j]:g}" for lr, j in
                                                                     zip(lrs, best_idx[name], strict=True)),
                      "best-wd spread (grid steps)": spread[name],
                      "best val accuracy": max(max(r) for r in g),
                      "median accuracy range across decays": T.median([max(r) - min(r) for r in g])})
    if spread["adamw"] == spread["adam_l2"]:
        held = None
    else:
        held = spread["adamw"] < spread["adam_l2"]
    reason = (f"Across lr {lrs}, the best weight decay moves {spread['adam_l2']} grid steps for Adam+L2 and "
              f"{spread['adamw']} for AdamW (held needs AdamW < Adam+L2; equal is inconclusive); best val "
              f"accuracy {table[0]['best val accuracy']:.1%} (Adam+L2) vs {table[1]['best val accuracy']:.1%} "
              f"(AdamW). {b['n_train']} training digits, {b['steps']} steps, seed {ctx.seed} for every cell.")
    return CardResult(table=table, held=held, reason=reason, extra={"grids": grids, "lrs": lrs, "wds": wd_grid},
                      notes="Ties in accuracy pick the smaller decay. One seed per cell: small grids are noisy.")
