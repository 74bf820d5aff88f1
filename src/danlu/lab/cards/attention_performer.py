"""att-performer: FAVOR+ approximation error vs number of random features, orthogonal vs iid.

Exact reference: non-causal softmax attention (torch SDPA) on random q, k, v (B=1, H=4, N, D,
entries N(0, σ²)). FAVOR+: positive random features with the same D^-1/4 scaling, normalized
linear attention. Error = ||FAVOR+ − exact||_F / ||exact||_F, averaged over independent draws
of the projection. Decay rate = slope of log error vs log m.
"""

from __future__ import annotations

import math

import torch

from danlu.lab import CardContext, CardResult, card


@card(
    id="att-performer",
    title="Performer FAVOR+ approximation error",
    claim=("FAVOR+'s error in approximating softmax attention falls as the number of random features grows, "
           "and orthogonal random features give a lower error than iid ones."),
    source="note 003: Performer (FAVOR+)",
    area="attention",
    quick={"n": 256, "d": 32, "ms": [8, 16, 32, 64, 128, 256], "draws": 8, "sigma": 0.3},
    full={"n": 1024, "ms": [8, 16, 32, 64, 128, 256, 512, 1024], "draws": 32},
)
def att_performer(ctx: CardContext) -> CardResult:
    import torch.nn.functional as F

    from danlu.kernels import linear_attention
    from danlu.kernels.linear_attention.feature_maps import gaussian_projection, performer_features
    from danlu.plotting import subplots

    b = ctx.budget
    g = torch.Generator().manual_seed(ctx.seed)
    q, k, v = (b["sigma"] * torch.randn(1, 4, b["n"], b["d"], generator=g, dtype=torch.float64) for _ in range(3))
    exact = F.scaled_dot_product_attention(q, k, v)
    errs: dict[str, list[float]] = {"orthogonal": [], "iid": []}
    rows = []
    for m in b["ms"]:
        row = {"features": m}
        for kind in errs:
            vals = []
            for _ in range(b["draws"]):
                w = gaussian_projection(m, b["d"], orthogonal=kind == "orthogonal", generator=g, dtype=torch.float64)
                out = linear_attention(q, k, v, causal=False, feature_map=lambda x, w=w: performer_features(x, w))
                vals.append(((out - exact).norm() / exact.norm()).item())
            errs[kind].append(sum(vals) / len(vals))
            row[f"rel_err_{kind}"] = errs[kind][-1]
        rows.append(row)
    lm = [math.log(m) for m in b["ms"]]

    def slope(ys: list[float]) -> float:
        ly = [math.log(y) for y in ys]
        mx, my = sum(lm) / len(lm), sum(ly) / len(ly)
        return sum((a - mx) * (c - my) for a, c in zip(lm, ly)) / sum((a - mx) ** 2 for a in lm)

    s_orf, s_iid = slope(errs["orthogonal"]), slope(errs["iid"])
    orf_better = sum(o < i for o, i in zip(errs["orthogonal"], errs["iid"]))
    held = s_orf < -0.35 and s_iid < -0.35 and orf_better >= math.ceil(0.75 * len(b["ms"]))
    fig, ax = subplots(1, 1, width=5)
    for kind, ys in errs.items():
        ax[0, 0].loglog(b["ms"], ys, "o-", label=f"{kind} (slope {slope(ys):.2f})")
    ax[0, 0].loglog(b["ms"], [errs["iid"][0] * (b["ms"][0] / m) ** 0.5 for m in b["ms"]], "k:", label="∝ m^-1/2")
    ax[0, 0].set(xlabel="random features m", ylabel="relative error vs softmax attention")
    ax[0, 0].legend()
    ctx.figure("error_vs_features", fig, caption="FAVOR+ relative error vs number of features (mean over draws).")
    return CardResult(
        table=rows, held=held,
        reason=(f"error slope vs m: orthogonal {s_orf:.2f}, iid {s_iid:.2f}; orthogonal lower at "
                f"{orf_better}/{len(b['ms'])} feature counts (m={b['ms'][0]}: {errs['orthogonal'][0]:.3f} vs "
                f"{errs['iid'][0]:.3f}; m={b['ms'][-1]}: {errs['orthogonal'][-1]:.4f} vs {errs['iid'][-1]:.4f})."),
    )
