"""att-score: masked softmax with valid lengths, and additive vs scaled dot-product scores (d2l §11.3).

Three measurements, on danlu's :func:`~danlu.attention.masked_softmax`,
:func:`~danlu.attention.additive_scores` and :func:`~danlu.attention.scaled_dot_product_scores`:

1. Masking (d2l's ``masked_softmax``: keys at index >= valid_len get weight exactly 0). Random
   float64 scores (B, Nq, Nk) with random valid lengths, per batch row and per query, 0 and Nk
   included. Measured: the largest weight on a masked key (must be exactly 0.0), the largest
   |Σ weights − 1| over rows with a valid key, and the largest |danlu − torch SDPA| of the
   attention output with the same boolean mask (``F.scaled_dot_product_attention``, the
   reference; rows with no valid key are compared with zeros, where SDPA gives NaN).
2. Behaviour as the dimension d grows. q, k with unit-variance entries (the scale after
   LayerNorm), Nk keys. Per seed and d: the variance of the scores (unscaled q·k, scaled
   q·k/√d, additive w_v·tanh(W_q q + W_k k) with danlu's AdditiveAttention initialisation and
   hidden width h = d) and the mean largest softmax weight per query. Effects: the slope of
   log variance vs log d (unscaled: 1, scaled: 0) and the mean largest weight at the largest d
   (unscaled scores saturate the softmax towards one-hot; 1/√d keeps it spread).
3. Cost. Time of one (Nq, Nk) score matrix, additive vs scaled dot product, at each d with
   h = d, in ``repeats`` interleaved rounds of single-thread CPU time
   (:mod:`danlu.lab.cards._attention_common`). Effect: the geometric mean over d of the time
   ratio additive / dot product, one per round.
"""

from __future__ import annotations

import math

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards._attention_common import best_of, loglog_slope
from danlu.lab.evidence import Decision, Estimate, all_of, decide, estimate, ratio_text, seeds_for
from danlu.lab.threads import one_thread, single_threaded

EXACT_TOL = 1e-10
SLOPE_GROWS = 0.5
SLOPE_FLAT = 0.25
SATURATED = 0.9
SPREAD = 0.5
COST_MARGIN = 2.0


def verdict(masked_max: float, rowsum_err: float, sdpa_err: float, slope_unscaled: Estimate,
            slope_scaled: Estimate, maxw_unscaled: Estimate, maxw_scaled: Estimate, cost_ratio: Estimate) -> Decision:
    """Held iff all of: (masking) the largest weight on a masked key is exactly 0.0, every row with a
    valid key sums to 1 within 1e-10, and the output matches torch SDPA with the same mask within
    1e-10 (float64); (behaviour) the 95% interval of the slope of log score-variance vs log d lies
    wholly above 0.5 for unscaled dot products and wholly inside (-0.25, 0.25) for scaled ones,
    and at the largest d the mean largest softmax weight has its interval wholly above 0.9
    unscaled (saturated) and wholly below 0.5 scaled; (cost) the interval of the time ratio
    additive / scaled dot product (geometric mean over d) lies wholly above 2. Not held if a
    masking check fails or an interval lies wholly on the wrong side; otherwise inconclusive.

    Margins: slopes 0.5 and ±0.25 split "grows as d" (1) from "flat" (0) with room for the
    seed-to-seed noise of a variance estimate; 0.9 / 0.5 split one-hot from spread weights;
    2x for cost is far above the few-percent round-to-round noise of CPU time.
    """
    exact = masked_max == 0.0 and rowsum_err <= EXACT_TOL and sdpa_err <= EXACT_TOL
    return all_of(exact, decide(slope_unscaled, SLOPE_GROWS),
                  decide(slope_scaled, SLOPE_FLAT, higher_is_better=False), decide(slope_scaled, -SLOPE_FLAT),
                  decide(maxw_unscaled, SATURATED), decide(maxw_scaled, SPREAD, higher_is_better=False),
                  decide(cost_ratio, math.log(COST_MARGIN)))


def _masking(seed: int, b: dict) -> dict[str, float]:
    import torch.nn.functional as F

    from danlu.attention import masked_softmax
    from danlu.attention.functional import sequence_mask

    g = torch.Generator().manual_seed(seed)
    bs, nq, nk, dv = b["batch"], b["nq"], b["nk"], 8
    scores = torch.randn(bs, nq, nk, generator=g, dtype=torch.float64) * 3
    v = torch.randn(bs, nk, dv, generator=g, dtype=torch.float64)
    out = {"masked_max": 0.0, "rowsum_err": 0.0, "sdpa_err": 0.0, "masked": 0, "rows": 0}
    for lens in (torch.randint(0, nk + 1, (bs,), generator=g),                   # per batch row
                 torch.randint(0, nk + 1, (bs, nq), generator=g)):               # per query
        lens[0] = 0                                                                # an empty row, always
        w = masked_softmax(scores, lens)                                          # (B, Nq, Nk)
        per_q = lens if lens.dim() == 2 else lens[:, None].expand(bs, nq)
        keep = sequence_mask(per_q, nk)                                            # (B, Nq, Nk)
        live = keep.any(-1)                                                        # rows with a valid key
        ours = w @ v                                                               # (B, Nq, Dv)
        # SDPA computes softmax(q k^T · scale, mask) v; q = scores, k = I, scale 1 gives the scores themselves.
        eye = torch.eye(nk, dtype=torch.float64).expand(bs, nk, nk)
        ref = F.scaled_dot_product_attention(scores, eye, v, attn_mask=keep, scale=1.0)
        ref = torch.where(live[..., None], ref, torch.zeros_like(ref))
        out["masked_max"] = max(out["masked_max"], w[~keep].abs().max().item() if (~keep).any() else 0.0)
        out["rowsum_err"] = max(out["rowsum_err"], (w.sum(-1)[live] - 1).abs().max().item())
        out["sdpa_err"] = max(out["sdpa_err"], (ours - ref).abs().max().item())
        out["masked"] += int((~keep).sum())
        out["rows"] += int(live.sum())
    return out


def _additive_params(d: int, h: int, g: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """danlu AdditiveAttention's initialisation: w_q, w_k ~ N(0, 1/d) (h, d), w_v ~ N(0, 1/h) (h,)."""
    return (torch.randn(h, d, generator=g) * d ** -0.5, torch.randn(h, d, generator=g) * d ** -0.5,
            torch.randn(h, generator=g) * h ** -0.5)


def _behaviour(seed: int, dims: list[int], nq: int, nk: int) -> dict[str, list[float]]:
    from danlu.attention import additive_scores, scaled_dot_product_scores

    g = torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {f"{k}_{m}": [] for k in ("unscaled", "scaled", "additive") for m in ("var", "maxw")}
    for d in dims:
        q, k = torch.randn(nq, d, generator=g), torch.randn(nk, d, generator=g)
        s = {"unscaled": scaled_dot_product_scores(q, k, scale=1.0), "scaled": scaled_dot_product_scores(q, k),
             "additive": additive_scores(q, k, *_additive_params(d, d, g))}
        for name, sc in s.items():
            out[f"{name}_var"].append(sc.var().item())
            out[f"{name}_maxw"].append(torch.softmax(sc, -1).max(-1).values.mean().item())
    return out


def _cost(b: dict, device: torch.device) -> tuple[dict[str, list[list[float]]], list[int]]:
    from danlu.attention import additive_scores, scaled_dot_product_scores

    g = torch.Generator().manual_seed(0)
    dims = list(b["cost_dims"])
    args = []
    for d in dims:
        q, k = torch.randn(b["cost_n"], d, generator=g).to(device), torch.randn(b["cost_n"], d, generator=g).to(device)
        args.append((q, k, tuple(t.to(device) for t in _additive_params(d, d, g))))
    fns = {"additive": lambda q, k, p: additive_scores(q, k, *p), "dot": lambda q, k, p: scaled_dot_product_scores(q, k)}
    times = {name: [[] for _ in dims] for name in fns}                              # [name][d index][round]
    with torch.no_grad(), one_thread(device):
        for a in args:
            for fn in fns.values():
                fn(*a)                                                              # warm-up
        for _ in range(b["repeats"]):
            for i, a in enumerate(args):
                for name, fn in fns.items():
                    times[name][i].append(best_of(lambda fn=fn, a=a: fn(*a), device, b["calls"]))
    return times, dims


@card(
    id="att-score",
    title="Attention scoring: masked softmax, additive vs scaled dot product",
    claim=("Masked softmax gives masked keys exactly zero weight; unscaled dot-product scores grow in variance "
           "with the dimension and saturate the softmax while 1/√d scaling keeps them at unit variance; and "
           "additive scoring costs more than scaled dot-product scoring."),
    source="note 001: attention scoring functions (masked softmax, additive, scaled dot product)",
    area="attention",
    quick={"seeds": 8, "batch": 4, "nq": 6, "nk": 10, "dims": [4, 16, 64, 256, 1024], "n_keys": 32,
           "cost_dims": [16, 64, 256], "cost_n": 64, "repeats": 5, "calls": 2},
    full={"seeds": 20, "dims": [4, 16, 64, 256, 1024, 4096], "cost_dims": [16, 64, 256, 1024], "repeats": 10},
    rule=verdict,
)
@single_threaded
def att_score(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    masks = [_masking(s, b) for s in seeds]
    masked_max = max(m["masked_max"] for m in masks)
    rowsum_err = max(m["rowsum_err"] for m in masks)
    sdpa_err = max(m["sdpa_err"] for m in masks)
    dims = list(b["dims"])
    beh = [_behaviour(s, dims, b["n_keys"], b["n_keys"]) for s in seeds]
    slope = {k: estimate([loglog_slope(dims, r[f"{k}_var"]) for r in beh]) for k in ("unscaled", "scaled", "additive")}
    maxw = {k: estimate([r[f"{k}_maxw"][-1] for r in beh]) for k in ("unscaled", "scaled", "additive")}
    times, cdims = _cost(b, ctx.device)
    cost = estimate([sum(math.log(times["additive"][i][r] / times["dot"][i][r]) for i in range(len(cdims))) / len(cdims)
                     for r in range(b["repeats"])])
    held = verdict(masked_max, rowsum_err, sdpa_err, slope["unscaled"], slope["scaled"], maxw["unscaled"],
                   maxw["scaled"], cost)

    n_masked, n_rows = sum(m["masked"] for m in masks), sum(m["rows"] for m in masks)
    rows = [{"measure": "largest weight on a masked key", "value": f"{masked_max:.1e}",
             "detail": f"{n_masked} masked (query, key) pairs, {len(seeds)} seeds"},
            {"measure": "largest |row sum − 1| (rows with a valid key)", "value": f"{rowsum_err:.1e}",
             "detail": f"{n_rows} rows"},
            {"measure": "largest |danlu − torch SDPA| (same mask)", "value": f"{sdpa_err:.1e}", "detail": "float64"}]
    for k in ("unscaled", "scaled", "additive"):
        rows.append({"measure": f"slope of log score variance vs log d, {k}",
                     "value": slope[k].describe(what="seeds", sign=False), "detail": f"d = {dims[0]}..{dims[-1]}"})
    for k in ("unscaled", "scaled", "additive"):
        rows.append({"measure": f"mean largest softmax weight at d={dims[-1]}, {k}",
                     "value": maxw[k].describe(what="seeds", sign=False, digits=3), "detail": f"{b['n_keys']} keys"})
    for i, d in enumerate(cdims):
        ra = [a / c for a, c in zip(times["additive"][i], times["dot"][i])]
        rows.append({"measure": f"time additive / dot product, d = h = {d}",
                     "value": f"{sorted(ra)[len(ra) // 2]:.1f}x (median)",
                     "detail": f"{b['cost_n']}x{b['cost_n']} scores, {b['repeats']} rounds"})
    cost_text = ratio_text(cost, what="rounds")

    fig, axes = subplots(1, 3, width=3.9)
    style = {"unscaled": ("C3", "o-"), "scaled": ("C0", "s--"), "additive": ("C2", "^:")}
    for k, (c, fmt) in style.items():
        mv = [sum(r[f"{k}_var"][j] for r in beh) / len(beh) for j in range(len(dims))]
        mw = [sum(r[f"{k}_maxw"][j] for r in beh) / len(beh) for j in range(len(dims))]
        axes[0, 0].loglog(dims, mv, fmt, color=c, label=f"{k} (slope {slope[k].mean:.2f})")
        axes[0, 1].semilogx(dims, mw, fmt, color=c, label=k)
    axes[0, 0].set(xlabel="dimension d", ylabel="score variance", title="score variance vs d")
    axes[0, 1].axhline(1 / b["n_keys"], color="k", ls=(0, (1, 3)), label="uniform 1/N")
    axes[0, 1].set(xlabel="dimension d", ylabel="mean largest softmax weight", title="softmax saturation", ylim=(0, 1.05))
    for a in (axes[0, 0], axes[0, 1]):
        a.set_xticks(dims, [str(d) for d in dims], minor=False)
        a.set_xticks([], minor=True)
        a.legend(fontsize=7)
    for name, (c, fmt) in (("additive", ("C2", "^:")), ("dot", ("C0", "s--"))):
        med = [sorted(t)[len(t) // 2] * 1e3 for t in times[name]]
        axes[0, 2].loglog(cdims, med, fmt, color=c, label="additive" if name == "additive" else "scaled dot product")
    axes[0, 2].set(xlabel="d (= hidden width h)", ylabel="ms per score matrix (CPU time)",
                   title=f"cost, {b['cost_n']} queries × {b['cost_n']} keys")
    axes[0, 2].set_xticks(cdims, [str(d) for d in cdims], minor=False)
    axes[0, 2].set_xticks([], minor=True)
    axes[0, 2].legend(fontsize=7)
    ctx.figure("scores", fig, caption=("Left: score variance vs d (means over seeds). Middle: how one-hot the softmax "
                                       "gets. Right: time of one score matrix (median of rounds)."))
    return CardResult(
        table=rows, held=held,
        reason=(f"masked keys get weight {masked_max:.1e} (exactly zero needed), rows sum to 1 within {rowsum_err:.0e}, "
                f"torch SDPA differs by {sdpa_err:.0e}. Variance slope vs d: unscaled "
                f"{slope['unscaled'].describe(what='seeds', sign=False)} (needs > {SLOPE_GROWS}), scaled "
                f"{slope['scaled'].describe(what='seeds')} (needs inside ±{SLOPE_FLAT}). Largest weight at d={dims[-1]}: "
                f"unscaled {maxw['unscaled'].mean:.3f}, scaled {maxw['scaled'].mean:.3f} (needs > {SATURATED} / < {SPREAD}). "
                f"Time additive / dot product: {cost_text} (needs > {COST_MARGIN:g}x)."),
        notes=("Additive attention materialises an (Nq, Nk, h) tensor and a tanh per entry; its scores stay "
               "bounded by |w_v|₁, so their variance does not grow with d either."),
        effects={"variance slope, unscaled": (slope["unscaled"], slope["unscaled"].describe(what="seeds", sign=False)),
                 "variance slope, scaled": (slope["scaled"], slope["scaled"].describe(what="seeds")),
                 f"largest weight at d={dims[-1]}, unscaled": (maxw["unscaled"],
                                                               maxw["unscaled"].describe(what="seeds", sign=False, digits=3)),
                 f"largest weight at d={dims[-1]}, scaled": (maxw["scaled"],
                                                             maxw["scaled"].describe(what="seeds", sign=False, digits=3)),
                 "time ratio additive / dot product": (cost, cost_text)},
    )
