"""tr-gn: GroupNorm holds at batch 2 where BatchNorm fails (note 004).

Wu & He, "Group Normalization", arXiv:1803.08494 (Fig. 1: BN's error rises sharply at small batches,
GN's does not). Comparison: danlu's ``cnn`` (conv-norm-ReLU stages) with ``norm="bn"`` vs ``"gn"``,
same initial weights, data order, optimizer and number of steps, at batch 32 and at batch 2 on the
digits images. Held: GN loses less test accuracy than BN going from batch 32 to batch 2, and GN beats
BN at batch 2 (medians over seeds). BN evaluates with its running statistics, as deployed.
"""

from __future__ import annotations

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _one(ctx: CardContext, seed: int, norm: str, batch: int) -> float:
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    data = T.digits(ctx.seed, flatten=False)
    torch.manual_seed(seed)
    model = create_model("cnn", in_channels=1, num_classes=10, widths=b["widths"], norm=norm, image_size=8)
    opt = create_optimizer("adam", model, lr=b["lr"])
    T.train(model, data.train, steps=b["steps"], batch_size=batch, optimizer=opt, seed=seed)
    return T.metrics(model, data.test)["acc"]


@card(id="tr-gn", title="GroupNorm vs BatchNorm at batch 2 and 32",
      claim="GroupNorm keeps its accuracy at batch size 2 while BatchNorm's degrades.",
      source="note 004: tricks column (group normalization)", area="tricks",
      quick={"seeds": 2, "batches": [32, 2], "steps": 150, "widths": [16, 32], "lr": 2e-3},
      full={"seeds": 5, "steps": 1000, "widths": [32, 64]})
def tr_gn(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    b = ctx.budget
    seeds = [ctx.seed + i for i in range(b["seeds"])]
    acc = {(n, bs): [_one(ctx, s, n, bs) for s in seeds] for n in ("bn", "gn") for bs in b["batches"]}
    med = {k: T.median(v) for k, v in acc.items()}
    big, small = b["batches"]
    fig, axes = subplots(1, 1, width=4.6)
    ax = axes[0][0]
    for i, n in enumerate(("bn", "gn")):
        ax.plot([str(bs) for bs in b["batches"]], [med[(n, bs)] for bs in b["batches"]], "o-", color=f"C{i}",
                label=n.upper())
        for bs in b["batches"]:
            ax.plot([str(bs)] * len(seeds), acc[(n, bs)], ".", color=f"C{i}", alpha=0.5)
    ax.set(xlabel="batch size", ylabel="test accuracy", title=f"same {b['steps']} steps, median over seeds")
    ax.legend()
    ctx.figure("batch", fig, caption="Test accuracy of BN and GN nets at batch 32 and batch 2 (dots: seeds).")
    table = [{"norm": n.upper(), f"acc @ batch {big}": med[(n, big)], f"acc @ batch {small}": med[(n, small)],
              "drop": med[(n, big)] - med[(n, small)]} for n in ("bn", "gn")]
    bn, gn = table
    held = gn["drop"] < bn["drop"] and med[("gn", small)] > med[("bn", small)]
    reason = (f"{b['steps']} Adam steps each, {T.fmt_seeds(seeds)}: going from batch {big} to {small}, BN's median test "
              f"accuracy moves {med[('bn', big)]:.1%} -> {med[('bn', small)]:.1%}, GN's {med[('gn', big)]:.1%} -> "
              f"{med[('gn', small)]:.1%} (held needs GN's drop smaller than BN's and GN ahead at batch {small}).")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds, "acc": {f"{k[0]}@{k[1]}": v
                                                                                           for k, v in acc.items()}})
