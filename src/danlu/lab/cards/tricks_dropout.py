"""tr-dropout: dropout narrows the train/test gap (note 004).

Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014
(arXiv:1207.0580). Comparison: the same wide MLP, initial weights and data order per seed, with
dropout p=0.5 after each hidden layer vs none, the same Adam learning rate and steps. Each seed draws
its own ``n_train`` training digits; every other digit (the rest of the training split, validation
and test, about 1600 images) is held out, so one held-out image is 0.06 accuracy points (the old
card's 270 test images made its 0.7-point effect about two images). Gap = training accuracy -
held-out accuracy, both in eval mode (dropout off). The verdict is :func:`verdict` on the paired
(same seed) differences.

Margin (fixed before the verdict seeds were run): the gap must shrink by more than 0.5 points.
Pilot seeds 100-105 (never used for a verdict) gave a per-seed SD of the paired gap reduction of
0.2 points and a no-dropout gap of about 6 points; 0.5 points is 8 held-out images and a twelfth of
the gap. Held-out accuracy may not drop by more than 1 point. With 6 seeds the first verdict runs
(base seeds 0 and 1) saw a per-seed SD of 0.3-0.4 points and flipped between inconclusive and not
held, so the quick run uses 12 seeds (95% interval about +-0.2 points).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.evidence import Estimate, all_of, decide, paired, seeds_for

MARGIN = 0.5     # accuracy points the gap must shrink by (see the module docstring)
MAX_LOSS = 1.0   # accuracy points of held-out accuracy dropout may cost


def verdict(gap_reduction: Estimate, held_out_acc_change: Estimate) -> bool | None:
    """Held when dropout shrinks the train - held-out accuracy gap by more than 0.5 points AND
    costs no more than 1 point of held-out accuracy: the 95% t interval over seeds of the paired
    gap reduction (gap without dropout - gap with, in points) lies wholly above +0.5, and that of
    the paired held-out accuracy change (with - without) lies wholly above -1. Not held when the
    reduction's interval lies wholly below +0.5 or the accuracy change's wholly below -1;
    inconclusive otherwise.
    """
    return all_of(decide(gap_reduction, MARGIN), decide(held_out_acc_change, -MAX_LOSS))


def held_out_split(seed: int, n_train: int) -> tuple[TensorDataset, TensorDataset]:
    """``n_train`` digits of the training split (a seeded draw) and every other digit, held out."""
    data = T.digits(0)
    x, y = data.train.tensors
    idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    tr, rest = idx[:n_train], idx[n_train:]
    held_x = torch.cat([x[rest], data.val.tensors[0], data.test.tensors[0]])
    held_y = torch.cat([y[rest], data.val.tensors[1], data.test.tensors[1]])
    return TensorDataset(x[tr], y[tr]), TensorDataset(held_x, held_y)


def _one(ctx: CardContext, seed: int, p: float) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    train, held = held_out_split(seed, b["n_train"])
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=b["depth"], width=b["width"], dropout=p)
    opt = create_optimizer("adam", model, lr=b["lr"])
    run = T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, seed=seed,
                  eval_every=b["eval_every"], eval_fn=lambda m: {**T.metrics(m, train, "train_"),
                                                                 **T.metrics(m, held, "test_")})
    last = run.evals[-1]
    return {"evals": run.evals, "train_acc": 100 * last["train_acc"], "test_acc": 100 * last["test_acc"],
            "gap": 100 * (last["train_acc"] - last["test_acc"]), "loss_gap": last["test_loss"] - last["train_loss"],
            "n_held": len(held)}


def _figure(ctx: CardContext, res: dict[str, list[dict[str, Any]]], seeds: list[int], red: Estimate) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.6)
    ax = axes[0][0]
    for i, (name, rs) in enumerate(res.items()):
        ev = rs[0]["evals"][1:]                              # from the first eval after step 0
        steps = [e["step"] for e in ev]
        ax.plot(steps, [100 * e["train_acc"] for e in ev], "-", marker="o", ms=3, color=f"C{i}", label=f"{name} train")
        ax.plot(steps, [100 * e["test_acc"] for e in ev], "--", marker="s", ms=3, color=f"C{i}",
                label=f"{name} held-out")
    ax.set(xlabel="step", ylabel="accuracy (%)", title=f"train vs held-out accuracy (seed {seeds[0]})")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[0][1]
    T.paired_seed_panel(ax, res, "gap", f"mean; reduction {red.mean:+.1f} ± {red.half_width:.1f}",
                        ylabel="gap: train - held-out accuracy (points)", title=f"gap per seed ({len(seeds)} seeds)")
    ctx.figure("gap", fig, caption="Left: training (solid) and held-out (dashed) accuracy of one seed. Right: the "
                                   "train - held-out gap per seed (grey lines join the same seed) and the mean, "
                                   "with the paired reduction's 95% interval.")


@card(id="tr-dropout", title="Dropout and the train/test gap",
      claim="Dropout shrinks the gap between training and test accuracy of an over-parameterised network.",
      source="note 004: tricks column (dropout)", area="tricks", rule=verdict,
      quick={"seeds": 12, "p": 0.5, "n_train": 200, "steps": 250, "batch": 50, "depth": 2, "width": 256,
             "lr": 1e-3, "eval_every": 50},
      full={"seeds": 16, "n_train": 400, "steps": 1500, "width": 512})
def tr_dropout(ctx: CardContext) -> CardResult:
    b = ctx.budget
    p = b["p"]
    seeds = seeds_for(ctx.seed, b["seeds"])
    res = {name: [_one(ctx, s, q) for s in seeds] for name, q in (("no dropout", 0.0), (f"dropout {p}", p))}
    no, do = res.values()
    red = paired([r["gap"] for r in no], [r["gap"] for r in do])
    acc = paired([r["test_acc"] for r in do], [r["test_acc"] for r in no])
    held = verdict(red, acc)
    _figure(ctx, res, seeds, red)

    def mean(rs: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in rs) / len(rs)

    table = [{"model": name, "mean train acc (%)": mean(rs, "train_acc"), "mean held-out acc (%)": mean(rs, "test_acc"),
              "mean gap (points)": mean(rs, "gap"), "mean loss gap (held-out - train CE)": mean(rs, "loss_gap")}
             for name, rs in res.items()]
    t_red = red.describe(unit=" points", digits=1)
    t_acc = acc.describe(unit=" points", digits=1)
    reason = (f"{b['n_train']} training digits per seed, {no[0]['n_held']} held out, width {b['width']}, {b['steps']} "
              f"Adam steps: dropout {p} shrinks the train - held-out accuracy gap by {t_red} (held needs above "
              f"{MARGIN:g}); held-out accuracy changes by {t_acc} (held needs above -{MAX_LOSS:g}); mean gap "
              f"{mean(do, 'gap'):.1f} with dropout vs {mean(no, 'gap'):.1f} points without.")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"gap reduction (points)": (red, t_red), "held-out accuracy change (points)": (acc, t_acc)},
                      extra={"seeds": seeds})
