"""met-seg: on a background-heavy scene, pixel accuracy looks good while MIoU exposes the failure.

The comparison: a synthetic scene (background plus a few small objects of three classes), scored for
two predictors with the same metrics: "all background" (the failure) and a decent segmenter (object
masks shifted and with noise), on several seeded scene sets. Both predictors are scored by the same
metric code on the same targets; see :func:`met_seg_rule` for the criterion.
"""

from __future__ import annotations

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, Estimate, all_of, decide


def met_seg_rule(fail_pa: Estimate, miou_gap: Estimate, pa_gap: Estimate) -> Decision:
    """Held when all three hold over the seeded scene sets (95% intervals):
    (a) PA calls the failure good: the all-background predictor's pixel accuracy is above 0.9
        (the interval's lower end);
    (b) MIoU exposes it: the decent segmenter's MIoU exceeds the all-background predictor's by more
        than 0.2 (paired by scene set; lower end above 0.2);
    (c) PA does not: the decent segmenter's PA exceeds the failure's by less than 0.05 (upper end
        below 0.05; a negative gap means PA even prefers the failure).
    The margins are set well outside the scene-to-scene noise (the objects are random: the spread of
    each number across scene sets is about 0.01-0.03): 0.9 is where a PA reads as "good", 0.2 is a
    fifth of MIoU's range, 0.05 is a quarter of that. Not held when a part's interval is wholly on
    the wrong side; inconclusive when one straddles its margin.
    """
    return all_of(decide(fail_pa, 0.9), decide(miou_gap, 0.2), decide(pa_gap, 0.05, higher_is_better=False))


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
    quick={"size": 128, "images": 4, "objects": 4, "seeds": 5},
    full={"size": 512, "images": 32, "objects": 6, "seeds": 10},
    rule=met_seg_rule,
)
def met_seg(ctx: CardContext) -> CardResult:
    from danlu.lab.evidence import estimate, paired, seeds_for
    from danlu.metrics.segmentation import SegmentationMetric
    from danlu.plotting import subplots

    b = ctx.budget
    keys = ("PA", "MPA", "MIoU", "FWIoU", "mDice")
    names = ("all background", "decent segmenter")
    per_seed: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    bg = []
    for seed in seeds_for(ctx.seed, int(b["seeds"])):
        g = torch.Generator().manual_seed(seed)
        target = torch.stack([_scene(b["size"], b["objects"], g) for _ in range(b["images"])])  # (N, S, S)
        shifted = torch.roll(target, shifts=(2, 3), dims=(1, 2))
        noise = torch.rand(target.shape, generator=g) < 0.03
        decent = torch.where(noise, torch.randint(0, 4, target.shape, generator=g), shifted)
        for name, p in zip(names, (torch.zeros_like(target), decent)):
            m = SegmentationMetric(4)
            m.update(p, target)
            per_seed[name].append(m.compute())
        bg.append(float((target == 0).float().mean()))
    res = {n: {k: sum(r[k] for r in rs) / len(rs) for k in keys} for n, rs in per_seed.items()}
    table = [{"predictor": n, "scene sets": len(per_seed[n]), **res[n]} for n in names]
    fail_rows, ok_rows = per_seed["all background"], per_seed["decent segmenter"]
    fail_pa = estimate([r["PA"] for r in fail_rows])
    miou_gap = paired([r["MIoU"] for r in ok_rows], [r["MIoU"] for r in fail_rows])
    pa_gap = paired([r["PA"] for r in ok_rows], [r["PA"] for r in fail_rows])
    held = met_seg_rule(fail_pa, miou_gap, pa_gap)
    bg_frac = sum(bg) / len(bg)
    fail = res["all background"]
    fig, axes = subplots(1, 1, width=6, height=3.4)
    ax = axes[0, 0]
    x = torch.arange(len(keys)).float()
    for i, name in enumerate(names):
        ax.bar(x + (i - 0.5) * 0.38, [res[name][k] for k in keys], width=0.38, label=name)
    ax.set_xticks(x.tolist(), list(keys))
    ax.set(ylim=(0, 1.05), ylabel="score", title=f"background = {bg_frac:.0%} of pixels")
    ax.legend(fontsize=7)
    ctx.figure("metrics-bars", fig, caption="Each metric for the all-background predictor and a decent segmenter "
               f"(mean over {len(bg)} scene sets).")
    t_pa = fail_pa.describe(what="scene sets", digits=3, sign=False)
    t_miou = miou_gap.describe(what="scene sets", digits=3)
    t_pagap = pa_gap.describe(what="scene sets", digits=3)
    reason = (f"background is {bg_frac:.1%} of pixels; all-background scores PA {t_pa} (needs > 0.9) but MIoU "
              f"{fail['MIoU']:.3f} (MPA {fail['MPA']:.3f}); the decent segmenter's MIoU is higher by {t_miou} "
              f"(needs > 0.2), its PA by only {t_pagap} (needs < 0.05).")
    effects = {"PA of all-background": (fail_pa, t_pa), "MIoU gap (decent - all-background)": (miou_gap, t_miou),
               "PA gap (decent - all-background)": (pa_gap, t_pagap)}
    return CardResult(table=table, held=held, reason=reason, effects=effects,
                      notes=("FWIoU weights IoU by class frequency, so like PA it is dominated by the background. "
                             "The decent segmenter is the target shifted by (2, 3) pixels with 3% of pixels "
                             "relabelled at random: on the quick budget's 128-pixel scenes (objects 8-16 pixels) "
                             "that costs it much more IoU than on the full budget's 512-pixel scenes."))
