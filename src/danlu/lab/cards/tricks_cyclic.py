"""tr-cyclic: SGDR (cosine with warm restarts) and a snapshot ensemble of its cycle-end models (note 004).

Loshchilov & Hutter, "SGDR", arXiv:1608.03983; Huang et al., "Snapshot Ensembles: Train 1, get M for
free", arXiv:1704.00109. Comparison: one SGD run under an SGDR schedule; the weights at the end of
each cycle are kept; the ensemble (mean of their softmax outputs) is compared on the test split
with the single final model of the same run (which is itself the last snapshot). Held: the
ensemble has lower test NLL and no lower test accuracy (median over seeds). The disagreement between
consecutive snapshots (share of test predictions that differ) shows the cycles end in different minima.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _one_seed(ctx: CardContext, seed: int) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.optim import create_optimizer, create_schedule, make_lr_function

    b = ctx.budget
    data = T.digits(ctx.seed)
    total = b["cycles"] * b["T_0"]
    lr_fn = make_lr_function("sgdr", total_steps=total, T_0=b["T_0"])
    ends = lr_fn.cycle_ends(total)
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"], dropout=0.0)
    opt = create_optimizer("sgd", model, lr=b["lr"], weight_decay=b["wd"])
    sched = create_schedule("sgdr", opt, total_steps=total, T_0=b["T_0"])
    run = T.train(model, data.train, steps=total, batch_size=b["batch"], optimizer=opt, schedule=sched, seed=seed,
                  snapshot_at=ends)
    y = data.test.tensors[1]
    probs = []
    for snap in run.snapshots:
        model.load_state_dict(snap)
        probs.append(torch.softmax(T.logits_of(model, data.test), 1))  # (N, C)
    ens = torch.stack(probs).mean(0)
    single = probs[-1]
    nll = lambda p: torch.nn.functional.nll_loss(p.clamp_min(1e-12).log(), y).item()  # noqa: E731
    acc = lambda p: (p.argmax(1) == y).float().mean().item()  # noqa: E731
    disagree = [(probs[i].argmax(1) != probs[i + 1].argmax(1)).float().mean().item() for i in range(len(probs) - 1)]
    return {"ends": ends, "lrs": run.lrs, "snap_acc": [acc(p) for p in probs], "ens_acc": acc(ens),
            "single_acc": acc(single), "ens_nll": nll(ens), "single_nll": nll(single), "disagree": disagree}


@card(id="tr-cyclic", title="SGDR warm restarts and a snapshot ensemble",
      claim=("Cosine annealing with warm restarts ends each cycle in a different minimum, and the ensemble of "
             "the cycle-end snapshots beats the single final model of the same run."),
      source="note 004: tricks column (cyclic learning rates)", area="tricks",
      quick={"seeds": 3, "cycles": 4, "T_0": 60, "lr": 0.1, "wd": 5e-4, "batch": 64, "width": 128},
      full={"seeds": 8, "cycles": 6, "T_0": 200})
def tr_cyclic(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    seeds = [ctx.seed + i for i in range(ctx.budget["seeds"])]
    res = [_one_seed(ctx, s) for s in seeds]
    fig, axes = subplots(1, 2, width=4.6)
    r0 = res[0]
    axes[0][0].plot(r0["lrs"], color="tab:blue")
    axes[0][0].plot(r0["ends"], [r0["lrs"][e] for e in r0["ends"]], "rv", label="snapshot")
    axes[0][0].set(xlabel="step", ylabel="learning rate", title="SGDR schedule (lr_at) and snapshots")
    axes[0][0].legend(fontsize=7)
    for i, r in enumerate(res):
        k = range(1, len(r["snap_acc"]) + 1)
        axes[0][1].plot(k, r["snap_acc"], "o-", color=f"C{i}", label=f"seed {seeds[i]} snapshot")
        axes[0][1].axhline(r["ens_acc"], color=f"C{i}", ls="--", lw=1, label=f"seed {seeds[i]} ensemble")
    axes[0][1].set(xlabel="cycle", ylabel="test accuracy", title="each snapshot vs the ensemble")
    axes[0][1].legend(fontsize=6)
    ctx.figure("sgdr", fig, caption="SGDR learning rate with snapshot points; test accuracy per snapshot vs ensemble.")

    table = [{"seed": s, "single final acc": r["single_acc"], "ensemble acc": r["ens_acc"],
              "single final NLL": r["single_nll"], "ensemble NLL": r["ens_nll"],
              "mean snapshot disagreement": sum(r["disagree"]) / len(r["disagree"])} for s, r in zip(seeds, res, strict=True)]
    med = {k: T.median([row[k] for row in table]) for k in table[0] if k != "seed"}
    held = med["ensemble NLL"] < med["single final NLL"] and med["ensemble acc"] >= med["single final acc"]
    reason = (f"{ctx.budget['cycles']} SGDR cycles of {ctx.budget['T_0']} steps, {len(res[0]['ends'])} snapshots, "
              f"{T.fmt_seeds(seeds)}: median test NLL {med['ensemble NLL']:.3f} (ensemble) vs "
              f"{med['single final NLL']:.3f} (final model), accuracy {med['ensemble acc']:.1%} vs "
              f"{med['single final acc']:.1%} (held needs lower NLL and no lower accuracy); consecutive snapshots "
              f"disagree on {med['mean snapshot disagreement']:.1%} of test digits.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds})
