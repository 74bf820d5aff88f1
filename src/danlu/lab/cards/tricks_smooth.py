"""tr-smooth: label smoothing and calibration (note 004).

Szegedy et al. arXiv:1512.00567 (label smoothing); Müller et al., "When Does Label Smoothing Help?",
arXiv:1906.02629 (calibration); ECE as Guo et al. arXiv:1706.04599 (15 equal-width bins).
Müller et al. report calibration gains for networks that cross entropy makes over-confident (their
ResNet-56 on CIFAR-100: ECE 0.15 without smoothing). Comparison: the same wide MLP, data order and
initial weights, trained on a small digits subset (100 images) until plain cross entropy's training
loss is near zero, with plain cross entropy vs danlu's ``label_smoothing_ce`` (eps=0.1, Szegedy et
al.'s value). Precondition: the plain network is over-confident on the test split (median mean
confidence at least 2 points above its accuracy); otherwise the card is inconclusive. Held: lower
median test ECE with smoothing and no more than 1 point of accuracy lost.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _one(ctx: CardContext, seed: int, eps: float) -> dict[str, Any]:
    from danlu.losses import create_loss
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    data = T.digits(ctx.seed)
    train = T.subset(data.train, b["n_train"], ctx.seed)
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
    opt = create_optimizer("adam", model, lr=b["lr"])
    loss = create_loss("label_smoothing_ce", smoothing=eps)
    T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, loss_fn=loss, seed=seed)
    logits = T.logits_of(model, data.test)
    y = data.test.tensors[1]
    ece, bins = T.calibration(torch.softmax(logits, 1), y, bins=15)
    return {"acc": T.accuracy(logits, y), "ece": ece, "nll": T.nll(logits, y), "bins": bins,
            "train_ce": T.metrics(model, train)["loss"],
            "conf": torch.softmax(logits, 1).max(1).values.mean().item()}


@card(id="tr-smooth", title="Label smoothing and calibration",
      claim="Label smoothing lowers the expected calibration error of an over-confident classifier without costing accuracy.",
      source="note 004: tricks column (label smoothing)", area="tricks",
      quick={"seeds": 3, "eps": 0.1, "n_train": 100, "steps": 300, "batch": 64, "width": 256, "lr": 1e-3},
      full={"seeds": 8, "n_train": 300, "steps": 1500, "width": 512})
def tr_smooth(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    eps = ctx.budget["eps"]
    seeds = [ctx.seed + i for i in range(ctx.budget["seeds"])]
    res = {name: [_one(ctx, s, e) for s in seeds] for name, e in (("CE", 0.0), (f"LS eps={eps}", eps))}
    fig, axes = subplots(1, 2, width=4.2)
    for ax, (name, rs) in zip(axes[0], res.items(), strict=True):
        bins = rs[0]["bins"]
        centers = [(r["lo"] + r["hi"]) / 2 for r in bins]
        ax.bar(centers, [r["acc"] for r in bins], width=1 / 15, edgecolor="k", alpha=0.7, label="accuracy")
        ax.plot([r["conf"] for r in bins], [r["acc"] for r in bins], "r.", label="(confidence, accuracy)")
        ax.plot([0, 1], [0, 1], "k:", lw=1)
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="confidence", ylabel="accuracy",
               title=f"{name}: ECE {rs[0]['ece']:.3f} (seed {seeds[0]})")
        ax.legend(fontsize=7)
    ctx.figure("reliability", fig, caption="Reliability diagrams on the test split (15 bins); diagonal = calibrated.")
    table = [{"loss": name, "median test accuracy": T.median([r["acc"] for r in rs]),
              "median ECE": T.median([r["ece"] for r in rs]), "median test NLL": T.median([r["nll"] for r in rs]),
              "median mean confidence": T.median([r["conf"] for r in rs]),
              "median confidence - accuracy": T.median([r["conf"] - r["acc"] for r in rs]),
              "median train CE": T.median([r["train_ce"] for r in rs])} for name, rs in res.items()]
    ce, ls = table
    over = ce["median confidence - accuracy"] >= 0.02
    better = ls["median ECE"] < ce["median ECE"] and ls["median test accuracy"] >= ce["median test accuracy"] - 0.01
    held = better if over else None
    reason = (f"{ctx.budget['n_train']} training digits, {ctx.budget['steps']} Adam steps (plain training CE "
              f"{ce['median train CE']:.4f}), {T.fmt_seeds(seeds)}: plain CE is over-confident by "
              f"{ce['median confidence - accuracy']:+.3f} (precondition: at least +0.02), smoothing gives "
              f"{ls['median confidence - accuracy']:+.3f}; median "
              f"test ECE {ls['median ECE']:.3f} with smoothing vs {ce['median ECE']:.3f} without (held needs lower); "
              f"accuracy {ls['median test accuracy']:.1%} vs {ce['median test accuracy']:.1%} (held needs no more "
              f"than 1 point lost); mean confidence {ls['median mean confidence']:.3f} vs {ce['median mean confidence']:.3f}.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds})
