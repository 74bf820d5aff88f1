"""vis-spp: spatial pyramid pooling gives a fixed-length feature for any input size (note 002).

He et al., "Spatial Pyramid Pooling in Deep Convolutional Networks for Visual Recognition",
arXiv:1406.4729 (SPP-net: one network takes images of any size; multi-size training helps).
One model (:class:`danlu.vision.spp.SPPClassifier`: two conv stages, SPP levels 1, 2, 4, a linear
head) is trained on MNIST-5k with each batch resized to one of ``train_sizes``
(:class:`RandomResize`, the paper's multi-size training) and evaluated on the test split resized
(bilinear, antialiased) to every size of ``test_sizes``, including sizes it never saw. A twin
trained at 28 px only (same steps, lr, seeds, data order) shows what multi-size training adds.
Training runs through danlu.train.fit. The verdict is :func:`verdict`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.evidence import Estimate, all_of, decide, estimate, paired, seeds_for

MARGIN = 0.7  # accuracy every test size must clear (chance 0.1)


def verdict(lengths_equal: bool, worst_size_accuracy: Estimate) -> bool | None:
    """Held when the SPP feature has the same length for every test size (lengths_equal) and the
    95% t interval over seeds of the multi-size model's test accuracy at its WORST size (the size
    with the lowest mean) lies wholly above 0.7. Not held when the lengths differ or that interval
    lies wholly below 0.7; inconclusive when it straddles.
    """
    if not lengths_equal:
        return False
    return all_of(decide(worst_size_accuracy, MARGIN))


def _resize(x: torch.Tensor, s: int) -> torch.Tensor:
    if x.shape[-1] == s:
        return x
    return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)


def _run(ctx: CardContext, data: Any, seed: int, train_sizes: list[int]) -> dict[str, Any]:
    from danlu.vision.spp import RandomResize, SPPClassifier

    b = ctx.budget
    torch.manual_seed(seed)
    net = SPPClassifier(1, 10, widths=b["widths"], levels=tuple(b["levels"]))
    model = nn.Sequential(RandomResize(train_sizes, seed=seed), net)
    opt = torch.optim.Adam(model.parameters(), lr=b["lr"])
    train = T.subset(data.train, b["n_train"], seed)
    T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, seed=seed)
    model.eval()
    x, y = data.test.tensors
    acc, length = {}, {}
    with torch.no_grad():
        for s in b["test_sizes"]:
            xs = _resize(x, s)
            acc[s] = T.accuracy(model(xs), y)
            length[s] = net.spp(net.features(xs[:1])).shape[1]
    return {"acc": acc, "length": length}


def _figure(ctx: CardContext, multi: list[dict], single: list[dict], sizes: list[int], train_sizes: list[int]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 1, width=5.2, height=3.5)
    ax = axes[0][0]
    for i, (name, runs) in enumerate((("multi-size training", multi), ("28 px only", single))):
        for r in runs:
            ax.plot(sizes, [100 * r["acc"][s] for s in sizes], "-", color=f"C{i}", alpha=0.3, lw=1)
        ax.plot(sizes, [100 * sum(r["acc"][s] for r in runs) / len(runs) for s in sizes], "o-", color=f"C{i}",
                lw=2, label=f"{name} (mean; thin: seeds)")
    for s in train_sizes:
        ax.axvline(s, color="C0", ls=":", lw=1)
    ax.axhline(100 * MARGIN, color="k", ls="--", lw=1)
    ax.set(xlabel="test image size (px)", ylabel="test accuracy (%)",
           title=f"one SPP model, feature length {multi[0]['length'][sizes[0]]} at every size")
    ax.legend(fontsize=7)
    ctx.figure("sizes", fig, caption="Test accuracy against the size the test images are resized to. Dotted: the "
               "multi-size model's training sizes; dashed: the verdict's 70% bar.")


@card(id="vis-spp", title="Spatial pyramid pooling: one model, any input size",
      claim="With spatial pyramid pooling one network maps images of any size to a fixed-length feature and "
            "classifies them at every size.",
      source="note 002: spatial pyramid pooling (SPP-net)", area="vision", rule=verdict, slow=True,
      quick={"seeds": 3, "n_train": 2000, "steps": 150, "batch": 32, "lr": 3e-3, "widths": [8, 16],
             "levels": [1, 2, 4], "train_sizes": [20, 28, 36], "test_sizes": [16, 20, 24, 28, 32, 36, 44]},
      full={"seeds": 5, "n_train": 3500, "steps": 1500, "widths": [16, 32]})
def vis_spp(ctx: CardContext) -> CardResult:
    from danlu.data import load_dataset

    b = ctx.budget
    data = load_dataset("mnist5k", seed=0)
    seeds = seeds_for(ctx.seed, b["seeds"])
    sizes = list(b["test_sizes"])
    multi = [_run(ctx, data, s, list(b["train_sizes"])) for s in seeds]
    single = [_run(ctx, data, s, [28]) for s in seeds]
    lengths = {r["length"][s] for r in multi for s in sizes}
    per_size = {s: estimate([r["acc"][s] for r in multi]) for s in sizes}
    worst = min(sizes, key=lambda s: per_size[s].mean)
    held = verdict(len(lengths) == 1, per_size[worst])
    unseen = [s for s in sizes if s != 28]
    gain = paired([100 * sum(r["acc"][s] for s in unseen) / len(unseen) for r in multi],
                  [100 * sum(r["acc"][s] for s in unseen) / len(unseen) for r in single])
    _figure(ctx, multi, single, sizes, list(b["train_sizes"]))
    table = [{"test size": s, "feature length": multi[0]["length"][s],
              "multi-size acc (mean)": per_size[s].mean,
              "28-px-only acc (mean)": sum(r["acc"][s] for r in single) / len(single)} for s in sizes]
    t_worst = per_size[worst].describe(digits=3, sign=False)
    t_gain = gain.describe(unit=" points", digits=1)
    reason = (f"Feature length {sorted(lengths)} for sizes {sizes[0]}-{sizes[-1]} px; the multi-size model's worst "
              f"size is {worst} px with accuracy {t_worst} (held needs above {MARGIN}); multi-size training "
              f"changes accuracy off 28 px by {t_gain} against a 28-px-only twin.")
    return CardResult(table=table, held=held, reason=reason,
                      effects={f"accuracy at the worst size ({worst} px)": (per_size[worst], t_worst),
                               "multi-size vs 28-px training, off 28 px (points)": (gain, t_gain)},
                      extra={"seeds": seeds})
