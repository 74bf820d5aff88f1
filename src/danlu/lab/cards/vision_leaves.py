"""vis-leaves: the folder pipeline (CSV ``image,label`` + images folder) trains end to end (notes 000-003).

d2l's "Image Classification (CIFAR-10) / Classify Leaves on Kaggle" chapters: read a CSV of image
paths and labels, decode the files, split, augment, train a CNN. Here, per seed: the synthetic
leaves generator (:func:`danlu.vision.leaves.make_leaves`) writes PNG files and ``train.csv`` into
a temporary folder; ``danlu train``'s engine (:class:`danlu.train.trainer.Trainer`, the config of
``configs/leaves.yaml`` at a smaller budget: a small CNN, left-right flips via ``data.augment``)
reads them back through the ``leaves`` dataset (the CSV loader) and trains; the held-out test
split (15%, stratified, never trained on) gives the accuracy. The verdict is :func:`verdict`.
"""

from __future__ import annotations

import tempfile
from typing import Any

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, decide, estimate, seeds_for

MARGIN = 0.6  # test accuracy the pipeline must clear (chance is 1/num_classes, 0.17 for 6 classes)


def verdict(test_accuracy: Estimate) -> bool | None:
    """Held when the 95% t interval over seeds of the test accuracy (fraction) of the model trained
    through the folder pipeline lies wholly above 0.6 (chance is 1/6); not held when it lies wholly
    below 0.6; inconclusive when it straddles.
    """
    return decide(test_accuracy, MARGIN)


def _run(ctx: CardContext, seed: int, folder: str) -> dict[str, Any]:
    from danlu.train.config import load_config
    from danlu.train.trainer import train

    b = ctx.budget
    cfg = load_config(None, [
        "model.name=cnn", "model.args={widths: [16, 32], norm: bn}", "data.name=leaves",
        f"data.args={{root: '{folder}/data', num_classes: {b['classes']}, per_class: {b['per_class']}, "
        f"image_size: {b['image_size']}, data_seed: {seed}}}",
        f"data.batch_size={b['batch']}", "data.augment=flip", "optim.name=adamw", f"optim.lr={b['lr']}",
        f"loop.epochs={b['epochs']}", "metrics=[accuracy]", f"out_dir={folder}/run", f"seed={seed}",
        "log.progress=false", f"device={ctx.device.type}"])
    res = train(cfg)
    return {"test_acc": res.metrics["test_accuracy"], "val_acc": res.metrics["val_accuracy"],
            "steps": res.metrics["steps"], "history": res.history}


def _figure(ctx: CardContext, runs: list[dict[str, Any]], seeds: list[int], folder_imgs: Any) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.4, height=3.4)
    ax = axes[0][0]
    ax.imshow(folder_imgs.permute(1, 2, 0).numpy())
    ax.set(xticks=[], yticks=[], title="generated leaves (first seed, as decoded)")
    ax = axes[0][1]
    for i, (s, r) in enumerate(zip(seeds, runs, strict=True)):
        ep = [h for h in r["history"] if "val_accuracy" in h]
        ax.plot([h.get("epoch", j + 1) for j, h in enumerate(ep)], [h["val_accuracy"] for h in ep], "o-", ms=3,
                color=f"C{i}", label=f"seed {s}: test {r['test_acc']:.2f}")
    ax.axhline(MARGIN, color="k", ls=":", lw=1)
    ax.set(xlabel="epoch", ylabel="validation accuracy", title="danlu train on the CSV folder")
    ax.legend(fontsize=7)
    ctx.figure("leaves", fig, caption="Left: images read back from the generated folder. Right: validation accuracy "
               "per epoch of each seed's run (dotted: the 0.6 bar of the verdict; chance is 1/6).")


@card(id="vis-leaves", title="Folder/CSV image pipeline end to end",
      claim="A CSV-plus-image-folder dataset (Kaggle classify-leaves layout) trains end to end with danlu train.",
      source="notes 000-003: Kaggle classify-leaves style pipeline", area="vision", rule=verdict, slow=True,
      quick={"seeds": 3, "classes": 6, "per_class": 60, "image_size": 24, "batch": 32, "lr": 5e-3, "epochs": 15},
      full={"seeds": 5, "per_class": 120, "image_size": 32, "epochs": 20})
def vis_leaves(ctx: CardContext) -> CardResult:
    import torch
    from torchvision.utils import make_grid

    from danlu.vision.datasets import ImageCSVDataset

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    runs, grid = [], None
    for s in seeds:
        with tempfile.TemporaryDirectory(prefix="danlu-vis-leaves-") as d:
            runs.append(_run(ctx, s, d))
            if grid is None:
                ds = ImageCSVDataset(f"{d}/data/train.csv", image_size=b["image_size"])
                grid = make_grid(torch.stack([ds[i][0] for i in range(24)]), nrow=8, padding=1)
    acc = estimate([r["test_acc"] for r in runs])
    held = verdict(acc)
    _figure(ctx, runs, seeds, grid)
    n_img = b["classes"] * b["per_class"]
    table = [{"seed": s, "test accuracy": r["test_acc"], "val accuracy": r["val_acc"], "steps": r["steps"]}
             for s, r in zip(seeds, runs, strict=True)]
    t_acc = acc.describe(digits=3, sign=False)
    reason = (f"{n_img} generated PNGs ({b['classes']} classes, {b['image_size']}px) read through train.csv; "
              f"a small CNN trained by danlu train for {b['epochs']} epochs reaches test accuracy {t_acc} "
              f"(held needs above {MARGIN}; chance {1 / b['classes']:.2f}).")
    return CardResult(table=table, held=held, reason=reason, effects={"test accuracy": (acc, t_acc)},
                      extra={"seeds": seeds})
