"""att-performer: FAVOR+ approximation error vs number of random features, orthogonal vs iid.

Exact reference: non-causal softmax attention (torch SDPA) on random q, k, v (B=1, H=4, N, D,
entries N(0, σ²)), float64. FAVOR+ (Choromanski et al., arXiv:2009.14794): positive random
features with the same D^-1/4 scaling, normalized linear attention. Error = ||FAVOR+ − exact||_F /
||exact||_F. Each seed is one draw of q, k, v and, at every feature count m, one iid and one
block-orthogonal projection (both kinds see the same q, k, v).

Effects, each over the seeds with a 95% t interval: the slope of log error vs log m per kind
(Monte Carlo error falls as m^-1/2, slope -0.5), and the mean over m of log(error orthogonal /
error iid) (orthogonal features lower the estimator's variance).
"""

from __future__ import annotations

import math

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, Estimate, all_of, decide, estimate, ratio_text, seeds_for
from danlu.lab.threads import single_threaded

SLOPE_MARGIN = -0.25


def verdict(slope_orthogonal: Estimate, slope_iid: Estimate, orth_over_iid: Estimate) -> Decision:
    """Held iff (1) for both orthogonal and iid features, the 95% interval of the slope of log error
    vs log m lies wholly below -0.25 (error falls at least as m^-1/4; Monte Carlo theory gives
    -0.5), AND (2) the 95% interval of the geometric-mean ratio error(orthogonal) / error(iid) over
    the feature counts lies wholly below 1. Not held if any slope interval lies wholly above -0.25
    or the ratio interval wholly above 1; otherwise inconclusive. ``orth_over_iid`` is on the log scale.

    Margins: -0.25 is half the theoretical rate, far from 0 (no decay); the ratio margin is 1
    (no gain) because the claim is only "lower" and the seed-to-seed noise is in the interval.
    """
    return all_of(decide(slope_orthogonal, SLOPE_MARGIN, higher_is_better=False),
                  decide(slope_iid, SLOPE_MARGIN, higher_is_better=False),
                  decide(orth_over_iid, 0.0, higher_is_better=False))


def _slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys on xs."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((a - mx) * (c - my) for a, c in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def _errors(seed: int, b: dict) -> dict[str, list[float]]:
    """Relative error per feature count for one draw of q, k, v and of the projections."""
    import torch.nn.functional as F

    from danlu.kernels import linear_attention
    from danlu.kernels.linear_attention.feature_maps import gaussian_projection, performer_features

    g = torch.Generator().manual_seed(seed)
    q, k, v = (b["sigma"] * torch.randn(1, 4, b["n"], b["d"], generator=g, dtype=torch.float64) for _ in range(3))
    exact = F.scaled_dot_product_attention(q, k, v)                                # (1, 4, N, D)
    errs: dict[str, list[float]] = {"orthogonal": [], "iid": []}
    for m in b["ms"]:
        for kind in errs:
            w = gaussian_projection(m, b["d"], orthogonal=kind == "orthogonal", generator=g, dtype=torch.float64)
            out = linear_attention(q, k, v, causal=False, feature_map=lambda x, w=w: performer_features(x, w))
            errs[kind].append(((out - exact).norm() / exact.norm()).item())
    return errs


@card(
    id="att-performer",
    title="Performer FAVOR+ approximation error",
    claim=("FAVOR+'s error in approximating softmax attention falls as the number of random features grows, "
           "and orthogonal random features give a lower error than iid ones."),
    source="note 003: Performer (FAVOR+)",
    area="attention",
    quick={"n": 256, "d": 32, "ms": [8, 16, 32, 64, 128, 256], "seeds": 8, "sigma": 0.3},
    full={"n": 1024, "ms": [8, 16, 32, 64, 128, 256, 512, 1024], "seeds": 32},
    rule=verdict,
)
@single_threaded
def att_performer(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    b = ctx.budget
    ms = list(b["ms"])
    lm = [math.log(m) for m in ms]
    per_seed = [_errors(s, b) for s in seeds_for(ctx.seed, b["seeds"])]
    slopes = {kind: estimate([_slope(lm, [math.log(e) for e in d[kind]]) for d in per_seed])
              for kind in ("orthogonal", "iid")}
    ratio = estimate([sum(math.log(o / i) for o, i in zip(d["orthogonal"], d["iid"])) / len(ms) for d in per_seed])
    held = verdict(slopes["orthogonal"], slopes["iid"], ratio)

    mean_err = {kind: [sum(d[kind][j] for d in per_seed) / len(per_seed) for j in range(len(ms))]
                for kind in ("orthogonal", "iid")}
    rows = [{"features": m, "rel_err_orthogonal": round(mean_err["orthogonal"][j], 5),
             "rel_err_iid": round(mean_err["iid"][j], 5),
             "orthogonal / iid": round(mean_err["orthogonal"][j] / mean_err["iid"][j], 3)}
            for j, m in enumerate(ms)]
    s_text = {k: e.describe(what="seeds") for k, e in slopes.items()}
    r_text = ratio_text(ratio, what="seeds")

    fig, ax = subplots(1, 1, width=5.5)
    a = ax[0, 0]
    styles = {"orthogonal": ("o-", "C0"), "iid": ("s--", "C1")}
    for kind, ys in mean_err.items():
        fmt, c = styles[kind]
        lo = [min(d[kind][j] for d in per_seed) for j in range(len(ms))]
        hi = [max(d[kind][j] for d in per_seed) for j in range(len(ms))]
        a.fill_between(ms, lo, hi, color=c, alpha=0.15)
        a.loglog(ms, ys, fmt, color=c, label=f"{kind}: slope {slopes[kind].mean:.2f} ± {slopes[kind].half_width:.2f}")
    a.loglog(ms, [mean_err["iid"][0] * (ms[0] / m) ** 0.5 for m in ms], "k:", label="∝ m^-1/2")
    a.set_xticks(ms, [str(m) for m in ms], minor=False)
    a.set_xticks([], minor=True)
    a.set(xlabel="random features m", ylabel="relative error vs softmax attention",
          title=f"mean over {len(per_seed)} seeds (band: min-max)")
    a.legend(fontsize=8)
    ctx.figure("error_vs_features", fig, caption="FAVOR+ relative error vs number of features (mean and range over seeds).")
    return CardResult(
        table=rows, held=held,
        reason=(f"error slope vs m: orthogonal {s_text['orthogonal']}, iid {s_text['iid']} (each needs < "
                f"{SLOPE_MARGIN}); error orthogonal / iid, geometric mean over m: {r_text} (needs < 1)."),
        effects={"slope (orthogonal)": (slopes["orthogonal"], s_text["orthogonal"]),
                 "slope (iid)": (slopes["iid"], s_text["iid"]),
                 "error ratio orthogonal / iid": (ratio, r_text)},
        notes=(f"σ = {b['sigma']} keeps q·k/√D small, so the exact attention is smooth; orthogonality helps most "
               "when m is a multiple of D (whole orthogonal blocks)."),
    )
