"""tr-cyclic: SGDR (cosine with warm restarts) and a snapshot ensemble of its cycle-end models (note 004).

Loshchilov & Hutter, "SGDR", arXiv:1608.03983; Huang et al., "Snapshot Ensembles: Train 1, get M for
free", arXiv:1704.00109. The paper's protocol: M cosine cycles, each restarting at a large lr and
annealing to ~0 so that each cycle converges to a minimum; the M cycle-end models are averaged
(softmax outputs); the baseline is a single model trained with a standard schedule for the SAME total
budget. Comparison here: per seed, one Nesterov-SGD run under SGDR with M equal cycles and one run
with plain cosine annealing (no restart) over the same total steps, same initial weights and data
order, an MLP on the full digits training split; each cycle is ~10 epochs, enough for the MLP's
training loss to settle. Measures on the test split: error and NLL. Held:
the snapshot ensemble has lower median test NLL AND no higher median test error than the single
model. The last snapshot alone and the disagreement between snapshots are shown for context.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _probs(model: torch.nn.Module, ds: Any) -> torch.Tensor:
    return torch.softmax(T.logits_of(model, ds), 1)  # (N, C)


def _one_seed(ctx: CardContext, seed: int) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.optim import create_optimizer, create_schedule, make_lr_function

    b = ctx.budget
    data = T.digits(ctx.seed)
    total = b["cycles"] * b["T_0"]
    ends = make_lr_function("sgdr", total_steps=total, T_0=b["T_0"]).cycle_ends(total)
    out: dict[str, Any] = {"ends": ends}
    for schedule in ("sgdr", "cosine"):
        torch.manual_seed(seed)
        model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
        opt = create_optimizer("nesterov", model, lr=b["lr"], weight_decay=b["wd"])
        kw = {"T_0": b["T_0"]} if schedule == "sgdr" else {}
        sched = create_schedule(schedule, opt, total_steps=total, **kw)
        run = T.train(model, data.train, steps=total, batch_size=b["batch"], optimizer=opt, schedule=sched,
                      seed=seed, snapshot_at=ends if schedule == "sgdr" else ())
        out[f"lrs_{schedule}"] = run.lrs
        if schedule == "cosine":
            out["single"] = _probs(model, data.test)
        else:
            out["snaps"] = []
            for snap in run.snapshots:
                model.load_state_dict(snap)
                out["snaps"].append(_probs(model, data.test))
    y = data.test.tensors[1]
    nll = lambda p: torch.nn.functional.nll_loss(p.clamp_min(1e-12).log(), y).item()  # noqa: E731
    err = lambda p: (p.argmax(1) != y).float().mean().item()  # noqa: E731
    ens, snaps = torch.stack(out["snaps"]).mean(0), out["snaps"]
    disagree = [(snaps[i].argmax(1) != snaps[i + 1].argmax(1)).float().mean().item() for i in range(len(snaps) - 1)]
    return {"ends": ends, "lrs": out["lrs_sgdr"], "lrs_cos": out["lrs_cosine"], "snap_err": [err(p) for p in snaps],
            "ens_err": err(ens), "ens_nll": nll(ens), "single_err": err(out["single"]),
            "single_nll": nll(out["single"]), "last_err": err(snaps[-1]), "last_nll": nll(snaps[-1]),
            "disagree": sum(disagree) / len(disagree)}


@card(id="tr-cyclic", title="SGDR warm restarts and a snapshot ensemble",
      claim=("An ensemble of the cycle-end snapshots of one cosine-with-restarts run beats a single model trained "
             "with a standard schedule for the same budget."),
      source="note 004: tricks column (cyclic learning rates)", area="tricks",
      quick={"seeds": 3, "cycles": 3, "T_0": 200, "lr": 0.1, "wd": 5e-4, "batch": 64, "width": 128},
      full={"seeds": 8, "cycles": 6, "T_0": 300, "width": 256})
def tr_cyclic(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    b = ctx.budget
    seeds = [ctx.seed + i for i in range(b["seeds"])]
    res = [_one_seed(ctx, s) for s in seeds]
    fig, axes = subplots(1, 2, width=4.6)
    r0 = res[0]
    axes[0][0].plot(r0["lrs"], color="tab:blue", label="SGDR")
    axes[0][0].plot(r0["lrs_cos"], color="tab:gray", ls="--", label="cosine (single model)")
    axes[0][0].plot(r0["ends"], [r0["lrs"][e] for e in r0["ends"]], "rv", label="snapshot")
    axes[0][0].set(xlabel="step", ylabel="learning rate", title="schedules (lr_at) and snapshots")
    axes[0][0].legend(fontsize=7)
    for i, r in enumerate(res):
        k = range(1, len(r["snap_err"]) + 1)
        axes[0][1].plot(k, r["snap_err"], "o-", color=f"C{i}", label=f"seed {seeds[i]} snapshots")
        axes[0][1].axhline(r["ens_err"], color=f"C{i}", ls="--", lw=1)
        axes[0][1].axhline(r["single_err"], color=f"C{i}", ls=":", lw=1)
    axes[0][1].set(xlabel="cycle", ylabel="test error", title="snapshots; -- ensemble, : single cosine model")
    axes[0][1].legend(fontsize=6)
    ctx.figure("sgdr", fig, caption="SGDR vs cosine learning rate with snapshot points; test error per snapshot, "
                                    "of the ensemble (dashed) and of the single cosine-schedule model (dotted).")

    table = [{"seed": s, "single (cosine) error": r["single_err"], "ensemble error": r["ens_err"],
              "last snapshot error": r["last_err"], "single (cosine) NLL": r["single_nll"], "ensemble NLL": r["ens_nll"],
              "last snapshot NLL": r["last_nll"], "snapshot disagreement": r["disagree"]}
             for s, r in zip(seeds, res, strict=True)]
    med = {k: T.median([row[k] for row in table]) for k in table[0] if k != "seed"}
    held = med["ensemble NLL"] < med["single (cosine) NLL"] and med["ensemble error"] <= med["single (cosine) error"]
    reason = (f"{b['cycles']} SGDR cycles of {b['T_0']} Nesterov-SGD steps (lr {b['lr']}) vs one cosine run of "
              f"{b['cycles'] * b['T_0']} steps, {T.fmt_seeds(seeds)}: median test NLL {med['ensemble NLL']:.3f} "
              f"(ensemble of {len(res[0]['ends'])}) vs {med['single (cosine) NLL']:.3f} (single), error "
              f"{med['ensemble error']:.1%} vs {med['single (cosine) error']:.1%} (held needs lower NLL and no higher "
              f"error); last snapshot alone: error {med['last snapshot error']:.1%}, NLL "
              f"{med['last snapshot NLL']:.3f}; consecutive snapshots disagree on {med['snapshot disagreement']:.1%} "
              f"of test digits.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds})
