"""met-seg: on a background-heavy scene, pixel accuracy looks good while MIoU exposes the failure.

The comparison: a synthetic scene (background plus a few small objects of three classes), scored for
two predictors with the same metrics: "all background" (the failure) and a decent segmenter (object
masks shifted and with boundary noise). The claim holds if the all-background predictor gets PA >= 0.9
while its MIoU is <= 0.5 and below the decent segmenter's MIoU by at least 0.2 -- i.e. PA ranks the
failure as good, MIoU does not.
"""

from __future__ import annotations

import torch

from danlu.lab import CardContext, CardResult, card


def _scene(size: int, n_objects: int, g: torch.Generator) -> torch.Tensor:
    y = torch.zeros(size, size, dtype=torch.long)
    for i in range(n_objects):
        h, w = (torch.randint(size // 16, size // 8, (2,), generator=g)).tolist()
        r, c = torch.randint(0, size - h, (1,), generator=g).item(), torch.randint(0, size - w, (1,), generator=g).item()
        y[r:r + h, c:c + w] = 1 + i % 3
    return y


@card(
    id="met-seg",
    title="PA vs MIoU on a background-heavy scene",
    claim="Predicting only background scores a high pixel accuracy on a background-heavy scene while MIoU exposes the failure.",
    source="note on segmentation metrics: PA, MPA, MIoU, FWIoU",
    area="metrics",
    quick={"size": 128, "images": 4, "objects": 4},
    full={"size": 512, "images": 32, "objects": 6},
)
def met_seg(ctx: CardContext) -> CardResult:
    from danlu.metrics.segmentation import SegmentationMetric
    from danlu.plotting import subplots

    b = ctx.budget
    g = torch.Generator().manual_seed(ctx.seed)
    target = torch.stack([_scene(b["size"], b["objects"], g) for _ in range(b["images"])])  # (N, S, S)
    shifted = torch.roll(target, shifts=(2, 3), dims=(1, 2))
    noise = torch.rand(target.shape, generator=g) < 0.03
    decent = torch.where(noise, torch.randint(0, 4, target.shape, generator=g), shifted)
    preds = {"all background": torch.zeros_like(target), "decent segmenter": decent}
    keys = ("PA", "MPA", "MIoU", "FWIoU", "mDice")
    table, res = [], {}
    for name, p in preds.items():
        m = SegmentationMetric(4)
        m.update(p, target)
        res[name] = m.compute()
        table.append({"predictor": name, **{k: res[name][k] for k in keys}})
    bg_frac = float((target == 0).float().mean())
    fail, ok = res["all background"], res["decent segmenter"]
    held = fail["PA"] >= 0.9 and fail["MIoU"] <= 0.5 and ok["MIoU"] - fail["MIoU"] >= 0.2
    fig, axes = subplots(1, 1, width=6, height=3.4)
    ax = axes[0, 0]
    x = torch.arange(len(keys)).float()
    for i, name in enumerate(preds):
        ax.bar(x + (i - 0.5) * 0.38, [res[name][k] for k in keys], width=0.38, label=name)
    ax.set_xticks(x.tolist(), list(keys))
    ax.set(ylim=(0, 1.05), ylabel="score", title=f"background = {bg_frac:.0%} of pixels")
    ax.legend(fontsize=7)
    ctx.figure("metrics-bars", fig, caption="Each metric for the all-background predictor and a decent segmenter.")
    reason = (f"background is {bg_frac:.1%} of pixels; all-background scores PA {fail['PA']:.3f} but MIoU "
              f"{fail['MIoU']:.3f} (MPA {fail['MPA']:.3f}); the decent segmenter scores PA {ok['PA']:.3f}, "
              f"MIoU {ok['MIoU']:.3f}.")
    return CardResult(table=table, held=held, reason=reason,
                      notes="FWIoU weights IoU by class frequency, so like PA it is dominated by the background.")
