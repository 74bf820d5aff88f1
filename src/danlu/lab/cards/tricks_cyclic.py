"""tr-cyclic: SGDR (cosine with warm restarts) and a snapshot ensemble of its cycle-end models (note 004).

Loshchilov & Hutter, "SGDR", arXiv:1608.03983; Huang et al., "Snapshot Ensembles: Train 1, get M for
free", arXiv:1704.00109. The paper's protocol: M cosine cycles, each restarting at a large lr and
annealing to ~0 so that each cycle converges to a minimum; the M cycle-end models are averaged
(softmax outputs); the baseline is a single model trained with a standard schedule for the SAME total
budget. Comparison here: per seed, one Nesterov-SGD run under SGDR with M equal cycles and one run
with plain cosine annealing (no restart) over the same total steps, the same initial weights, data
order, peak learning rate and weight decay (one setting for both, not tuned for either), an MLP on
the full digits training split; each cycle is ~10 epochs, enough for the MLP's training loss to
settle. Measures on the test split (270 digits), paired per seed: the single model's minus the
ensemble's NLL (nats) and error (points); positive = the ensemble is better. The verdict is
:func:`verdict`; the last snapshot alone and the disagreement between snapshots are context.

Margins (fixed before the verdict seeds were run, from pilot seeds 10-14, never used for a
verdict): NLL 0.005 nats, 2.5x the pilot's per-seed SD of the NLL difference (0.002) and about 5%
of the single model's test NLL (0.09); error 1 point (under 3 of the 270 test digits), 3x the
per-seed SD of the error difference (0.33 points). Seeds: with 5, seeds 1-5 (another data split)
gave an NLL gain of -0.005 ± 0.008, the interval's top 0.002 nats from the margin; 8 seeds (1.6 s
each) keep it clear.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.evidence import Estimate, all_of, decide, paired, seeds_for, verdict_text

NLL_MARGIN = 0.005   # nats of test NLL; see the module docstring
ERR_MARGIN = 1.0     # test-error points the ensemble may lose and still "not be worse"


def verdict(nll_gain: Estimate, err_gain: Estimate, nll_margin: float = NLL_MARGIN,
            err_margin: float = ERR_MARGIN) -> bool | None:
    """Held when, over seeds (95% t intervals of paired per-seed differences, single model minus
    snapshot ensemble on the test split), the NLL gain lies wholly above 0.005 nats (the ensemble's
    NLL is lower) AND the error gain lies wholly above -1 point (the ensemble makes no more errors,
    within 1 point). Not held when either interval lies wholly on the wrong side of its margin;
    inconclusive otherwise.
    """
    return all_of(decide(nll_gain, nll_margin), decide(err_gain, -err_margin))


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
    err = lambda p: 100 * (p.argmax(1) != y).float().mean().item()  # noqa: E731  (points)
    ens, snaps = torch.stack(out["snaps"]).mean(0), out["snaps"]
    disagree = [(snaps[i].argmax(1) != snaps[i + 1].argmax(1)).float().mean().item() for i in range(len(snaps) - 1)]
    return {"ends": ends, "lrs": out["lrs_sgdr"], "lrs_cos": out["lrs_cosine"], "snap_err": [err(p) for p in snaps],
            "snap_nll": [nll(p) for p in snaps],
            "ens_err": err(ens), "ens_nll": nll(ens), "single_err": err(out["single"]),
            "single_nll": nll(out["single"]), "last_err": err(snaps[-1]), "last_nll": nll(snaps[-1]),
            "disagree": sum(disagree) / len(disagree)}


def _figure(ctx: CardContext, res: list[dict[str, Any]], seeds: list[int]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 3, width=3.9, height=3.6)
    r0 = res[0]
    ax = axes[0][0]
    ax.plot(r0["lrs_cos"], color="tab:gray", ls="--", lw=1.5, label="cosine (single model)")
    ax.plot(r0["lrs"], color="tab:blue", lw=1.2, label="SGDR")
    ax.plot(r0["ends"], [r0["lrs"][e] for e in r0["ends"]], "v", color="tab:red", ms=8, label="snapshot")
    ax.set(xlabel="step", ylabel="learning rate", title="schedules and snapshot points")
    ax.legend(fontsize=7, loc="center right")
    k = len(r0["snap_err"])
    ticks = (list(range(1, k + 3)), [str(c) for c in range(1, k + 1)] + ["ens.", "single"])
    for ax, (key, what) in zip(axes[0][1:], (("nll", "test NLL (nats)"), ("err", "test error (%)")), strict=True):
        for i, (s, r) in enumerate(zip(seeds, res, strict=True)):
            dx = (i - (len(res) - 1) / 2) * 0.07
            ax.plot([x + dx for x in range(1, k + 1)], r[f"snap_{key}"], "o-", color=f"C{i}", ms=4, lw=1,
                    label=f"seed {s}")
            ax.plot([k + 1 + dx, k + 2 + dx], [r[f"ens_{key}"], r[f"single_{key}"]], "-", color=f"C{i}", lw=0.8,
                    alpha=0.6)                                   # the pair the effect is computed on
            ax.plot([k + 1 + dx], [r[f"ens_{key}"]], "s", color=f"C{i}", ms=7)
            ax.plot([k + 2 + dx], [r[f"single_{key}"]], "D", color=f"C{i}", ms=6)
        ax.axvline(k + 0.5, color="k", lw=0.6, alpha=0.5)
        ax.set_xticks(*ticks)
        ax.set(xlabel="snapshot after cycle k | ensemble | single", ylabel=what, title=what.split(" (")[0])
        ax.margins(y=0.15)
    axes[0][1].legend(fontsize=6, loc="best", framealpha=0.9)
    ctx.figure("sgdr", fig, caption="SGDR vs cosine learning rate with the snapshot points (first seed); test NLL "
                                    "and error of each snapshot, of their ensemble (squares) and of the single "
                                    "cosine-schedule model (diamonds), one colour per seed; a thin line joins each "
                                    "seed's pair.")


@card(id="tr-cyclic", title="SGDR warm restarts and a snapshot ensemble",
      claim=("An ensemble of the cycle-end snapshots of one cosine-with-restarts run beats a single model trained "
             "with a standard schedule for the same budget."),
      source="note 004: tricks column (cyclic learning rates)", area="tricks", rule=verdict,
      quick={"seeds": 8, "cycles": 3, "T_0": 200, "lr": 0.1, "wd": 5e-4, "batch": 64, "width": 128},
      full={"seeds": 10, "cycles": 6, "T_0": 300, "width": 256})
def tr_cyclic(ctx: CardContext) -> CardResult:
    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    res = [_one_seed(ctx, s) for s in seeds]
    _figure(ctx, res, seeds)

    col = lambda k: [r[k] for r in res]  # noqa: E731
    nll_gain, err_gain = paired(col("single_nll"), col("ens_nll")), paired(col("single_err"), col("ens_err"))
    held = verdict(nll_gain, err_gain)
    table = [{"seed": s, "single (cosine) error %": r["single_err"], "ensemble error %": r["ens_err"],
              "last snapshot error %": r["last_err"], "single (cosine) NLL": r["single_nll"], "ensemble NLL": r["ens_nll"],
              "last snapshot NLL": r["last_nll"], "snapshot disagreement": r["disagree"]}
             for s, r in zip(seeds, res, strict=True)]
    mean = lambda k: sum(col(k)) / len(res)  # noqa: E731
    nll_txt = nll_gain.describe(unit=" nats", digits=3)
    err_txt = err_gain.describe(unit=" points", digits=1)
    reason = (f"{b['cycles']} SGDR cycles of {b['T_0']} Nesterov-SGD steps (lr {b['lr']}) vs one cosine run of "
              f"{b['cycles'] * b['T_0']} steps, seeds {seeds[0]}-{seeds[-1]}: mean test NLL {mean('ens_nll'):.3f} "
              f"(ensemble of {len(res[0]['ends'])}) vs {mean('single_nll'):.3f} (single), gain {nll_txt}; error "
              f"{mean('ens_err'):.1f}% vs {mean('single_err'):.1f}%, gain {err_txt}. {verdict_text(held).capitalize()}: "
              f"held needs an NLL gain above {NLL_MARGIN} and an error gain above -{ERR_MARGIN:g} point. Last "
              f"snapshot alone: error {mean('last_err'):.1f}%, NLL {mean('last_nll'):.3f}; consecutive snapshots "
              f"disagree on {mean('disagree'):.1%} of test digits.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds},
                      effects={"test NLL, single - ensemble": (nll_gain, nll_txt),
                               "test error, single - ensemble": (err_gain, err_txt)})
