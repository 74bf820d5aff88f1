"""vis-aug: a left-right flip alone narrows the train/test gap on a small training set (note 003).

d2l, "Image Augmentation" (torchvision ``RandomHorizontalFlip`` on CIFAR-10 cuts overfitting);
Shorten & Khoshgoftaar, "A survey on Image Data Augmentation for Deep Learning", J. Big Data 2019.
Comparison per seed: the same small CNN (danlu's ``cnn``, widths 16, 32), initial weights, data
order, Adam lr and steps, trained on ``n_train`` sklearn digits (a seeded draw) with no
augmentation vs the ``flip`` preset of :mod:`danlu.vision.augment` (torchvision v2
``RandomHorizontalFlip(0.5)`` per training image, through
:class:`~danlu.vision.augment.AugmentedClassification` and danlu.train.fit). Every other digit
(about 1,600) is held out. Gap = training accuracy - held-out accuracy, both on un-augmented
images in eval mode. The embedded data are digits, not natural images: a mirrored digit is not
always a digit, so this is a harder test of the note's claim than CIFAR-10 would be.
The verdict is :func:`verdict` on the paired (same seed) differences.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.cards.tricks_dropout import held_out_split
from danlu.lab.evidence import Estimate, all_of, decide, paired, seeds_for

MARGIN = 1.0    # accuracy points the gap must shrink by
MAX_LOSS = 2.0  # accuracy points of held-out accuracy the flip may cost


def verdict(gap_reduction: Estimate, held_out_acc_change: Estimate) -> bool | None:
    """Held when flipping shrinks the train - held-out accuracy gap by more than 1 point AND costs
    no more than 2 points of held-out accuracy: the 95% t interval over seeds of the paired gap
    reduction (gap without - gap with flips, points) lies wholly above +1, and that of the paired
    held-out accuracy change (with - without) wholly above -2. Not held when the reduction's
    interval lies wholly below +1 or the accuracy change's wholly below -2; inconclusive otherwise.
    """
    return all_of(decide(gap_reduction, MARGIN), decide(held_out_acc_change, -MAX_LOSS))


def _images(ds: Any) -> Any:
    from torch.utils.data import TensorDataset

    x, y = ds.tensors
    return TensorDataset(x.view(-1, 1, 8, 8), y)


def _one(ctx: CardContext, seed: int, preset: str | None) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.train import fit
    from danlu.train.config import LoopConfig
    from danlu.train.tasks.classification import Classification
    from danlu.vision.augment import AugmentedClassification, create_preset

    b = ctx.budget
    train, held = (_images(d) for d in held_out_split(seed, b["n_train"]))
    torch.manual_seed(seed)
    model = create_model("cnn", in_channels=1, num_classes=10, widths=b["widths"], image_size=8)
    opt = torch.optim.Adam(model.parameters(), lr=b["lr"])
    task = Classification() if preset is None else AugmentedClassification(create_preset(preset, (1, 8, 8)))
    torch.manual_seed(seed)  # the flips' random stream
    fit(task, model, train, steps=b["steps"], seed=seed, batch_size=b["batch"], optimizer=opt,
        loop=LoopConfig(nan_guard=False))
    tr, te = T.metrics(model, train)["acc"], T.metrics(model, held)["acc"]
    return {"train_acc": 100 * tr, "test_acc": 100 * te, "gap": 100 * (tr - te), "n_held": len(held)}


def _figure(ctx: CardContext, res: dict[str, list[dict[str, Any]]], red: Estimate) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.4, height=3.5)
    T.paired_seed_panel(axes[0][0], res, "gap", f"mean; reduction {red.mean:+.1f} ± {red.half_width:.1f}",
                        ylabel="train - held-out accuracy (points)", title="gap per seed")
    T.paired_seed_panel(axes[0][1], res, "test_acc", "mean", ylabel="held-out accuracy (%)",
                        title="held-out accuracy per seed")
    ctx.figure("gap", fig, caption="Left: the train - held-out gap per seed without and with left-right flips "
               "(grey lines join the same seed). Right: held-out accuracy.")


@card(id="vis-aug", title="Left-right flips and the train/test gap",
      claim="Augmenting a small training set with left-right flips alone narrows the gap between training and "
            "test accuracy.",
      source="note 003: image augmentation", area="vision", rule=verdict, slow=True,
      quick={"seeds": 5, "n_train": 200, "steps": 200, "batch": 32, "lr": 3e-3, "widths": [16, 32]},
      full={"seeds": 10, "n_train": 400, "steps": 1000, "widths": [32, 64]})
def vis_aug(ctx: CardContext) -> CardResult:
    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    res = {"no augmentation": [_one(ctx, s, None) for s in seeds], "flip": [_one(ctx, s, "flip") for s in seeds]}
    no, fl = res.values()
    red = paired([r["gap"] for r in no], [r["gap"] for r in fl])
    acc = paired([r["test_acc"] for r in fl], [r["test_acc"] for r in no])
    held = verdict(red, acc)
    _figure(ctx, res, red)

    def mean(rs: list[dict[str, Any]], k: str) -> float:
        return sum(r[k] for r in rs) / len(rs)

    table = [{"training": name, "train acc (%)": mean(rs, "train_acc"), "held-out acc (%)": mean(rs, "test_acc"),
              "gap (points)": mean(rs, "gap")} for name, rs in res.items()]
    t_red, t_acc = red.describe(unit=" points", digits=1), acc.describe(unit=" points", digits=1)
    reason = (f"{b['n_train']} training digits per seed, {no[0]['n_held']} held out, {b['steps']} Adam steps: flips "
              f"shrink the gap by {t_red} (held needs above {MARGIN:g}); held-out accuracy changes by {t_acc} "
              f"(held needs above -{MAX_LOSS:g}); gap {mean(fl, 'gap'):.1f} with flips vs {mean(no, 'gap'):.1f}.")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"gap reduction (points)": (red, t_red), "held-out accuracy change (points)": (acc, t_acc)},
                      extra={"seeds": seeds})
