"""vis-segment: an FCN with skip fusion segments the synthetic shapes; PA flatters it, MIoU does not (note 003).

Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation"
(arXiv:1411.4038): 1x1 class scores, transposed convolutions initialised to bilinear upsampling,
skip fusion of finer stages; metrics PA and MIoU from their section 5 (:mod:`danlu.metrics.segmentation`,
mmseg's conventions). Peer: torchvision's FCN (a ResNet backbone, no skip fusion, bilinear
interpolation instead of learned upsampling).

What is run: danlu's FCN (:mod:`danlu.detection.fcn`, ``skips=2``) trained by the ``segmentation``
task through ``danlu.train.fit`` on the ``shapes`` dataset (background + 4 classes; most pixels are
background), scored on the held-out test split: per-class IoU, MIoU and PA of the same predictions.
The all-background predictor (every pixel class 0) is scored on the same masks for reference.

Margins (fixed after a single pilot run, seed 0, 250 steps, learning rate 0.01: MIoU 0.64, PA 0.97):
"learns" is a test MIoU above 0.5 (the all-background predictor scores about 0.18); "PA flatters" is
PA exceeding MIoU on the same predictions by more than 0.02.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, all_of, decide, estimate, seeds_for

MIOU_MARGIN = 0.5
GAP_MARGIN = 0.02


def verdict(miou: Estimate, pa_minus_miou: Estimate) -> bool | None:
    """Held when both hold over seeds (95% t intervals): (a) the FCN learns the shapes: its held-out
    MIoU (background included) lies wholly above 0.5; (b) pixel accuracy flatters the same predictions:
    PA - MIoU lies wholly above 0.02. Not held when either interval lies wholly below its margin;
    inconclusive otherwise.
    """
    return all_of(decide(miou, MIOU_MARGIN), decide(pa_minus_miou, GAP_MARGIN))


def _one(ctx: CardContext, seed: int) -> dict[str, Any]:
    from danlu.data import load_dataset
    from danlu.detection.train_small import train_segmenter
    from danlu.metrics.segmentation import segmentation_metrics

    b = ctx.budget
    splits = load_dataset("shapes", n=b["n"], image_size=b["image_size"], seed=seed)
    _, model = train_segmenter(splits, {"widths": b["widths"], "skips": b["skips"]}, steps=b["steps"], seed=seed,
                               lr=b["lr"])
    x, _, y = splits.test.tensors
    y = y.long()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 128]).argmax(1) for i in range(0, len(x), 128)])  # (N, H, W)
    res = segmentation_metrics(pred, y, splits.num_classes + 1)
    bg = segmentation_metrics(torch.zeros_like(y), y, splits.num_classes + 1)
    return {"res": res, "bg": bg, "images": x[:4], "masks": y[:4], "pred": pred[:4],
            "bg_share": float((y == 0).float().mean())}


def _figure(ctx: CardContext, first: dict[str, Any], runs: list[dict[str, Any]]) -> None:
    from danlu.detection.shapes import CLASSES
    from danlu.plotting import subplots

    fig, axes = subplots(3, 5, width=2.2, height=2.2)
    for k in range(4):
        axes[0][k].imshow(first["images"][k].permute(1, 2, 0).numpy())
        axes[1][k].imshow(first["masks"][k].numpy(), vmin=0, vmax=4, cmap="tab10", interpolation="nearest")
        axes[2][k].imshow(first["pred"][k].numpy(), vmin=0, vmax=4, cmap="tab10", interpolation="nearest")
        for r in range(3):
            axes[r][k].set_axis_off()
    axes[0][0].set_title("image", fontsize=8)
    axes[1][0].set_title("true mask", fontsize=8)
    axes[2][0].set_title("FCN prediction", fontsize=8)
    names = ["background", *CLASSES.values()]
    iou = [sum(r["res"]["IoU"][c] for r in runs) / len(runs) for c in range(len(names))]
    ax = axes[0][4]
    ax.barh(range(len(names)), iou, color="tab:blue")
    ax.set(yticks=range(len(names)), yticklabels=names, xlim=(0, 1), title="IoU per class (mean)")
    ax = axes[1][4]
    vals = [sum(r[w][m] for r in runs) / len(runs) for w in ("res", "bg") for m in ("PA", "MIoU")]
    ax.bar([0, 1, 3, 4], vals, color=["tab:green", "tab:blue"] * 2)
    ax.set(xticks=[0, 1, 3, 4], xticklabels=["PA", "MIoU", "PA", "MIoU"], ylim=(0, 1),
           title="FCN | all background")
    axes[2][4].set_axis_off()
    ctx.figure("masks", fig, caption="Test images of the first seed, their true masks and the FCN's predictions "
                                     "(colour = class); right: IoU per class and PA vs MIoU for the FCN and for "
                                     "the all-background predictor (means over seeds).")


@card(id="vis-segment", title="FCN segmentation on synthetic shapes: MIoU vs PA",
      claim="An FCN with bilinear-initialised transposed convolutions and skip fusion learns to segment the "
            "shapes (MIoU reported per class), and pixel accuracy flatters the same predictions.",
      source="note 003: FCN, transposed convolution, PA and MIoU", area="vision", rule=verdict, slow=True,
      quick={"seeds": 3, "n": 700, "image_size": 32, "steps": 250, "lr": 0.01, "widths": [8, 16, 16, 32],
             "skips": 2},
      full={"seeds": 5, "n": 1500, "image_size": 64, "steps": 600, "widths": [16, 32, 32, 64]})
def vis_segment(ctx: CardContext) -> CardResult:
    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    runs = [_one(ctx, s) for s in seeds]
    miou = estimate([r["res"]["MIoU"] for r in runs])
    gap = estimate([r["res"]["PA"] - r["res"]["MIoU"] for r in runs])
    held = verdict(miou, gap)
    _figure(ctx, runs[0], runs)
    from danlu.detection.shapes import CLASSES

    names = ["background", *CLASSES.values()]

    def mean(key: str, metric: str) -> float:
        return sum(r[key][metric] for r in runs) / len(runs)

    table: list[dict[str, Any]] = [
        {"predictor": "FCN", "PA": mean("res", "PA"), "MPA": mean("res", "MPA"), "MIoU": mean("res", "MIoU"),
         **{f"IoU {n}": sum(r["res"]["IoU"][c] for r in runs) / len(runs) for c, n in enumerate(names)}},
        {"predictor": "all background", "PA": mean("bg", "PA"), "MPA": mean("bg", "MPA"), "MIoU": mean("bg", "MIoU"),
         **{f"IoU {n}": sum(r["bg"]["IoU"][c] for r in runs) / len(runs) for c, n in enumerate(names)}}]
    tm, tg = miou.describe(digits=3, sign=False), gap.describe(digits=3)
    share = sum(r["bg_share"] for r in runs) / len(runs)
    reason = (f"{b['steps']} AdamW steps on {b['image_size']}-px shapes ({share:.0%} of test pixels are background): "
              f"the FCN's test MIoU is {tm} (held needs above {MIOU_MARGIN}); its PA exceeds its MIoU by {tg} (held "
              f"needs above {GAP_MARGIN}); predicting background everywhere already gets PA {mean('bg', 'PA'):.3f} "
              f"but MIoU {mean('bg', 'MIoU'):.3f}.")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"test MIoU (FCN)": (miou, tm), "PA - MIoU (same predictions)": (gap, tg)},
                      extra={"seeds": seeds, "per_seed": [{k: r[k][m] for k in ("res", "bg") for m in ("PA", "MIoU")}
                                                          for r in runs]})
