"""vis-dilated: dilated convolutions grow the receptive field exponentially; equal dilations grid (note 002).

Yu & Koltun, "Multi-Scale Context Aggregation by Dilated Convolutions", arXiv:1511.07122 (dilations
1, 2, 4, ... give a receptive field of 2^(L+1) - 1 with L 3x3 layers, against 2L + 1 for plain
ones); Wang et al., "Understanding Convolution for Semantic Segmentation", arXiv:1702.08502 (HDC:
equal rates such as (2, 2, 2) leave holes, "gridding"; (1, 2, 3) covers every pixel).

Analytic, no training: for depth L = 1..max_depth, the receptive field of a plain 3x3 stack and a
doubling-dilation stack from :func:`danlu.vision.receptive.receptive_field` (computed from the
layers) and from :func:`empirical_receptive_field` (the gradient footprint of one output pixel,
random weights and inputs, no activations); and the footprints of (2, 2, 2) and (1, 2, 3), with the HDC rule's
verdict and the count of holes. The verdict is :func:`verdict`.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate

GROWTH = 2.0  # the dilated field must be at least this many times the plain one at the largest depth


def verdict(mismatches: int, growth: float, holes_equal: int, holes_hdc: int) -> bool | None:
    """Held when (a) the analytic receptive field equals the empirical gradient footprint's extent
    for every stack and depth (mismatches == 0), (b) at the largest depth the doubling-dilation
    stack's field is at least 2x the plain stack's (growth >= 2), and (c) dilations (2, 2, 2) leave
    at least one hole in their footprint while HDC dilations (1, 2, 3) leave none. Not held
    otherwise (the measurement is exact: no inconclusive case).
    """
    return mismatches == 0 and growth >= GROWTH and holes_equal > 0 and holes_hdc == 0


def _stack(dilations: list[int], width: int) -> nn.Sequential:
    """1x1 conv to ``width`` channels, then 3x3 convs with the given dilations. No activation: the
    field is a property of the conv geometry, and a ReLU that is off for every trial input (a dead
    unit at random init) would hide pixels from the gradient probe."""
    layers: list[nn.Module] = [nn.Conv2d(1, width, 1)]
    for d in dilations:
        layers.append(nn.Conv2d(width, width, 3, dilation=d, padding=d))
    return nn.Sequential(*layers)


def _figure(ctx: CardContext, rows: list[dict[str, Any]], foot: dict[str, Any]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 3, width=3.6, height=3.4)
    ax = axes[0][0]
    depth = [r["depth"] for r in rows]
    for i, arm in enumerate(("plain", "dilated")):
        ax.plot(depth, [r[f"{arm} analytic"] for r in rows], "o-", color=f"C{i}", label=f"{arm}: analytic")
        ax.plot(depth, [r[f"{arm} empirical"] for r in rows], "x", ms=10, color="k",
                label="empirical (gradient footprint)" if i else None)
    ax.set_yscale("log", base=2)
    ax.set(xlabel="3x3 layers", ylabel="receptive field (pixels)", title="plain vs dilations 1, 2, 4, ...")
    ax.legend(fontsize=7)
    for ax, (name, (f, rep)) in zip((axes[0][1], axes[0][2]), foot.items(), strict=True):
        ax.imshow(f.float().numpy(), cmap="Greys", interpolation="nearest")
        ax.set(title=f"dilations {name}: {rep.holes} holes per row\nHDC rule {'met' if rep.satisfies_hdc else 'not met'}",
               xticks=[], yticks=[])
    ctx.figure("receptive", fig, caption="Left: receptive field against depth (log scale), analytic (lines) and "
               "measured from the input gradient of one output pixel (crosses). Middle and right: which input "
               "pixels reach the centre output of three dilated 3x3 layers (black = reached): equal rates "
               "(2, 2, 2) grid, HDC rates (1, 2, 3) do not.")


@card(id="vis-dilated", title="Dilated convolution: receptive-field growth and gridding",
      claim="Dilated convolutions grow the receptive field exponentially with depth at no extra parameters; "
            "equal dilation rates leave a gridding pattern that hybrid dilation (HDC) avoids.",
      source="note 002: dilated/atrous convolution, hybrid dilated convolution", area="vision", rule=verdict,
      quick={"max_depth": 5, "width": 4, "trials": 4}, full={"max_depth": 7, "width": 8, "trials": 16})
def vis_dilated(ctx: CardContext) -> CardResult:
    import torch

    from danlu.vision.receptive import empirical_receptive_field, hdc_check, receptive_field

    b = ctx.budget
    torch.manual_seed(ctx.seed)
    rows, mismatches = [], 0
    for depth in range(1, b["max_depth"] + 1):
        row: dict[str, Any] = {"depth": depth}
        for arm, rates in (("plain", [1] * depth), ("dilated", [2 ** i for i in range(depth)])):
            model = _stack(rates, b["width"])
            side = 2 ** (depth + 1) + 9
            rf = receptive_field(model, (1, side, side))
            _, ext = empirical_receptive_field(model, (1, side, side), trials=b["trials"], seed=ctx.seed)
            row[f"{arm} analytic"], row[f"{arm} empirical"] = rf.size[0], ext[0]
            mismatches += int(rf.size != ext)
        row["params per stack"] = sum(p.numel() for p in _stack([1] * depth, b["width"]).parameters())
        rows.append(row)
    growth = rows[-1]["dilated analytic"] / rows[-1]["plain analytic"]
    foot = {}
    for rates in ((2, 2, 2), (1, 2, 3)):
        f, _ = empirical_receptive_field(_stack(list(rates), b["width"]), (1, 21, 21), trials=b["trials"],
                                         seed=ctx.seed)
        foot[str(rates)] = (f, hdc_check(rates))
    (_, eq), (_, hdc) = foot.values()
    held = verdict(mismatches, growth, eq.holes, hdc.holes)
    _figure(ctx, rows, foot)
    for name, (_, rep) in foot.items():
        rows.append({"depth": f"rates {name}", "holes per row": rep.holes, "HDC M values": str(rep.m),
                     "gcd": rep.gcd, "HDC rule met": rep.satisfies_hdc})
    last = rows[b["max_depth"] - 1]
    reason = (f"At {b['max_depth']} layers the dilated stack sees {last['dilated analytic']} pixels against "
              f"{last['plain analytic']} ({growth:.1f}x, same parameters); analytic = empirical in "
              f"{2 * b['max_depth'] - mismatches}/{2 * b['max_depth']} cases; rates (2, 2, 2) leave {eq.holes} "
              f"holes per row, (1, 2, 3) leave {hdc.holes}.")
    return CardResult(table=rows, held=held, reason=reason,
                      effects={"receptive-field growth (dilated / plain)": (Estimate.of(growth, 0.0, n=1),
                                                                           f"{growth:.2f}x (exact)")})
