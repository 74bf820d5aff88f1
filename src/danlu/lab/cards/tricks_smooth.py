"""tr-smooth: label smoothing and calibration (note 004).

Szegedy et al. arXiv:1512.00567 (label smoothing); Müller et al., "When Does Label Smoothing Help?",
arXiv:1906.02629 (calibration); ECE as Guo et al. arXiv:1706.04599 (15 equal-width bins).
Müller et al. report calibration gains for networks that cross entropy makes over-confident (their
ResNet-56 on CIFAR-100: ECE 0.15 without smoothing).

Comparison: the same wide MLP, data order and initial weights per seed, trained on a small digits
subset (``n_train`` images, drawn per seed) until plain cross entropy's training loss is near zero,
with plain cross entropy vs danlu's ``label_smoothing_ce`` (eps=0.1, Szegedy et al.'s value), the same
Adam learning rate and steps. ECE, confidence and accuracy are measured on every digit not used for
training (about 1700 images, so one image is 0.06 accuracy points). The verdict is :func:`verdict`
on paired (same seed) differences.

Margins (fixed before the verdict seeds were run): over-confidence means plain CE's mean top-label
confidence exceeds its accuracy by more than 0.02 (the card's earlier precondition); the ECE must
fall by more than 0.01, a quarter of plain CE's held-out ECE (0.04 on pilot seeds 100-105, never
used for a verdict); accuracy may not drop by more than 1 point. The pilot's per-seed SDs were 0.012
for plain CE's over-confidence and 0.02 for the paired ECE difference, so the quick run uses 10 seeds
(95% intervals about +-0.009 and +-0.015).
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.cards.tricks_dropout import held_out_split
from danlu.lab.evidence import Estimate, all_of, decide, estimate, paired, seeds_for

OVERCONFIDENT = 0.02  # plain CE's confidence - accuracy must exceed this (precondition)
MARGIN = 0.01         # ECE reduction smoothing must clear
MAX_LOSS = 1.0        # accuracy points smoothing may cost


def verdict(overconfidence: Estimate, ece_reduction: Estimate, acc_change: Estimate) -> bool | None:
    """Precondition: plain cross entropy is over-confident on held-out digits: the 95% t interval
    over seeds of its (mean confidence - accuracy) lies wholly above 0.02; otherwise inconclusive.
    Held when label smoothing lowers the ECE by more than 0.01 AND costs no more than 1 point of
    accuracy: the interval of the paired ECE reduction (ECE with CE - ECE with smoothing) lies wholly
    above 0.01 and that of the paired accuracy change (smoothing - CE, points) wholly above -1. Not
    held when either interval lies wholly on the wrong side of its margin; inconclusive otherwise.
    """
    if decide(overconfidence, OVERCONFIDENT) is not True:
        return None
    return all_of(decide(ece_reduction, MARGIN), decide(acc_change, -MAX_LOSS))


def _one(ctx: CardContext, seed: int, eps: float) -> dict[str, Any]:
    from danlu.losses import create_loss
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    train, held = held_out_split(seed, b["n_train"])
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
    opt = create_optimizer("adam", model, lr=b["lr"])
    loss = create_loss("label_smoothing_ce", smoothing=eps)
    T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, loss_fn=loss, seed=seed)
    logits = T.logits_of(model, held)
    y = held.tensors[1]
    probs = torch.softmax(logits, 1)
    ece, bins = T.calibration(probs, y, bins=15)
    return {"acc": 100 * T.accuracy(logits, y), "ece": ece, "nll": T.nll(logits, y), "bins": bins,
            "train_ce": T.metrics(model, train)["loss"], "conf": probs.max(1).values.mean().item(),
            "n_held": len(y)}


def _figure(ctx: CardContext, res: dict[str, list[dict[str, Any]]], seeds: list[int], red: Estimate) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 3, width=3.8)
    for k, (ax, (name, rs)) in enumerate(zip(axes[0][:2], res.items(), strict=True)):
        bins = rs[0]["bins"]
        centers = [(r["lo"] + r["hi"]) / 2 for r in bins]
        ax.bar(centers, [r["acc"] for r in bins], width=1 / 15, edgecolor="k", color="tab:blue", alpha=0.6,
               label="accuracy per bin")
        ax.plot([r["conf"] for r in bins], [r["acc"] for r in bins], "o", color="tab:red", ms=4,
                label="(mean confidence, accuracy)")
        ax.plot([0, 1], [0, 1], "k:", lw=1, label="calibrated")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{name}: ECE {rs[0]['ece']:.3f} (seed {seeds[0]})")
        if k == 0:                                                  # one legend: both panels draw the same things
            ax.legend(fontsize=7, loc="upper left")
    ax = axes[0][2]
    T.paired_seed_panel(ax, res, "ece", f"mean; reduction {red.mean:+.3f} ± {red.half_width:.3f}",
                        ylabel="held-out ECE (15 bins)", title=f"ECE per seed ({len(seeds)} seeds)")
    ctx.figure("reliability", fig, caption="Reliability diagrams on held-out digits (15 bins; diagonal = calibrated) "
                                           "for one seed, and the ECE of every seed (grey lines join the same seed).")


@card(id="tr-smooth", title="Label smoothing and calibration",
      claim="Label smoothing lowers the expected calibration error of an over-confident classifier without costing accuracy.",
      source="note 004: tricks column (label smoothing)", area="tricks", rule=verdict,
      quick={"seeds": 10, "eps": 0.1, "n_train": 100, "steps": 300, "batch": 64, "width": 256, "lr": 1e-3},
      full={"seeds": 16, "n_train": 300, "steps": 1500, "width": 512})
def tr_smooth(ctx: CardContext) -> CardResult:
    b = ctx.budget
    eps = b["eps"]
    seeds = seeds_for(ctx.seed, b["seeds"])
    res = {name: [_one(ctx, s, e) for s in seeds] for name, e in (("CE", 0.0), (f"LS eps={eps}", eps))}
    ce, ls = res.values()
    over = estimate([r["conf"] - r["acc"] / 100 for r in ce])
    red = paired([r["ece"] for r in ce], [r["ece"] for r in ls])
    acc = paired([r["acc"] for r in ls], [r["acc"] for r in ce])
    held = verdict(over, red, acc)
    _figure(ctx, res, seeds, red)

    def mean(rs: list[dict[str, Any]], key: str) -> float:
        return sum(r[key] for r in rs) / len(rs)

    table = [{"loss": name, "mean held-out accuracy (%)": mean(rs, "acc"), "mean ECE": mean(rs, "ece"),
              "mean held-out NLL": mean(rs, "nll"), "mean confidence": mean(rs, "conf"),
              "mean confidence - accuracy": sum(r["conf"] - r["acc"] / 100 for r in rs) / len(rs),
              "mean train CE": mean(rs, "train_ce")} for name, rs in res.items()]
    t_over = over.describe(digits=3)
    t_red, t_acc = red.describe(digits=3), acc.describe(unit=" points", digits=1)
    ls_over = sum(r["conf"] - r["acc"] / 100 for r in ls) / len(ls)
    reason = (f"{b['n_train']} training digits per seed, {ce[0]['n_held']} held out, {b['steps']} Adam steps (plain "
              f"training CE {mean(ce, 'train_ce'):.4f}): plain CE's confidence - accuracy {t_over} (precondition: "
              f"above {OVERCONFIDENT}), smoothing's {ls_over:+.3f}; ECE reduction with smoothing {t_red} (held needs "
              f"above {MARGIN}); accuracy change {t_acc} (held needs above -{MAX_LOSS:g}).")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"ECE reduction (CE - LS)": (red, t_red),
                               "accuracy change LS - CE (points)": (acc, t_acc),
                               "CE over-confidence (conf - acc; precondition)": (over, t_over)},
                      extra={"seeds": seeds})
