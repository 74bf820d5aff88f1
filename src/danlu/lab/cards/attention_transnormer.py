"""att-transnormer: the two problems TransNormer names in vanilla linear attention, measured.

Qin et al., "The Devil in Linear Transformer" (arXiv:2210.10340).

1. Unbounded gradient (§3.1). The scaled softmax-free form divides by the score sum,
   o_i = Σ_j A_ij v_j / Σ_j A_ij, so ∂o/∂A carries a factor 1/Σ_j A_ij with no upper bound;
   softmax's Jacobian is bounded (by 1/4) and NormAttention drops the division (o = RMSNorm(A v)).
   Each seed draws ``trials`` random inputs (q, k, v, a random linear loss; elu+1 features,
   causal, n tokens) and records ‖∂L/∂A‖ per trial for each form. An unbounded factor shows as a
   heavy tail: the tail index of a seed is p99 / median of its norms, and the effect is the
   ratio of vanilla's tail index to NormAttention's, over seeds.
2. Attention dilution (§3.2: linear attention spreads its weights over the whole sequence while
   softmax attention stays near the query). The inputs carry locality but decide nothing about
   which form keeps it: hidden states x (N tokens, D dims) follow a Gaussian AR(1) process along
   positions (neighbours correlated, correlation length ``corr`` tokens), LayerNorm'd per token,
   and serve as both queries and keys (a tied projection) at scale σ. Softmax attention
   (q k^T / √D), vanilla linear attention (elu+1 features, normalized) and DiagAttention
   (softmax inside blocks) all see the same q, k. Measured: the mean attention mass a query puts
   on keys within ±w positions. The rule reads σ = 1 (the LayerNorm scale); the figure also shows
   σ = 0.5 and 2. DiagAttention puts zero mass outside its block by construction: shown, not judged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, Estimate, all_of, decide, estimate, log_ratio, ratio_text, seeds_for
from danlu.lab.threads import single_threaded

TAIL_MARGIN = 1.0
DILUTION_MARGIN = 1.25
FORMS = ("vanilla linear", "NormAttention", "softmax")
POOLERS = ("softmax", "vanilla linear", "DiagAttention")


def verdict(tail_ratio: Estimate, local_ratio: Estimate) -> Decision:
    """Held iff (1) the 95% interval of the ratio of tail indices (p99 / median of ‖∂L/∂A‖ over
    random inputs), vanilla linear / NormAttention, lies wholly above 1 (the scaled form's
    gradient is heavier-tailed), AND (2) the 95% interval of the ratio of local attention mass
    (within ±w tokens, σ = 1), softmax / vanilla linear, lies wholly above 1.25 (linear attention
    dilutes). Not held if either interval lies wholly below its margin; otherwise inconclusive.
    Both arguments are estimates of log-ratios over seeds.

    Margins: 1 for the tail (the claim is only "heavier"; a tail index estimated from a few hundred
    draws moves by ~10% between seeds, which the interval carries); 1.25x for dilution, the
    smallest difference in local mass worth calling dilution (seed-to-seed noise of the mass ratio
    is a few percent).
    """
    return all_of(decide(tail_ratio, math.log(TAIL_MARGIN)), decide(local_ratio, math.log(DILUTION_MARGIN)))


def _grad_norms(trials: int, n: int, d: int, seed: int) -> dict[str, torch.Tensor]:
    """‖∂L/∂A‖ per trial (trials,) for each form, L = <o, probe> with a random probe; batched over trials."""
    g = torch.Generator().manual_seed(seed)
    q, k, v, probe = (torch.randn(trials, n, d, generator=g, dtype=torch.float64) for _ in range(4))
    tril = torch.tril(torch.ones(n, n, dtype=torch.bool))
    a = ((F.elu(q) + 1) @ (F.elu(k) + 1).transpose(1, 2) * tril).requires_grad_()   # (T, N, N) causal scores
    o = (a @ v) / (a.sum(-1, keepdim=True) + 1e-12)                                   # scaled form
    out = {"vanilla linear": torch.autograd.grad((o * probe).sum(), a)[0]}
    a2 = a.detach().requires_grad_()
    o2 = F.rms_norm(a2 @ v, (d,))                                                     # NormAttention
    out["NormAttention"] = torch.autograd.grad((o2 * probe).sum(), a2)[0]
    s = (q @ k.transpose(1, 2) / d ** 0.5).masked_fill(~tril, float("-inf")).requires_grad_()
    o3 = torch.softmax(s, -1) @ v
    out["softmax"] = torch.autograd.grad((o3 * probe).sum(), s)[0]
    return {name: gr.flatten(1).norm(dim=1) for name, gr in out.items()}


def _tail(x: torch.Tensor) -> float:
    return (x.quantile(0.99) / x.median()).item()


def _hidden(seq: int, d: int, corr: float, seed: int) -> torch.Tensor:
    """(seq, d) LayerNorm'd Gaussian AR(1) process along positions, correlation exp(-1/corr) per step."""
    g = torch.Generator().manual_seed(seed)
    rho = math.exp(-1 / corr)
    eps = torch.randn(seq, d, generator=g, dtype=torch.float64)
    x = torch.empty_like(eps)
    x[0] = eps[0]
    for t in range(1, seq):
        x[t] = rho * x[t - 1] + math.sqrt(1 - rho ** 2) * eps[t]
    return F.layer_norm(x, (d,))


def _weights(x: torch.Tensor, scale: float, block: int) -> dict[str, torch.Tensor]:
    """(N, N) attention weights of each pooler for q = k = scale · x (non-causal)."""
    n, d = x.shape
    q = scale * x
    s = q @ q.T / d ** 0.5
    fe = F.elu(q) + 1
    lin = fe @ fe.T
    blk = torch.arange(n) // block
    return {"softmax": torch.softmax(s, -1), "vanilla linear": lin / lin.sum(-1, keepdim=True),
            "DiagAttention": torch.softmax(s.masked_fill(blk[:, None] != blk[None, :], float("-inf")), -1)}


def _local_mass(w: torch.Tensor, window: int) -> float:
    n = w.shape[-1]
    near = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs() <= window
    return (w * near).sum(-1).mean().item()


@card(
    id="att-transnormer",
    title="TransNormer: unbounded gradients and attention dilution",
    claim=("Vanilla (scaled) linear attention has a heavier-tailed gradient with respect to its scores than "
           "NormAttention, and on the same locally correlated queries and keys it puts less attention mass "
           "near each query than softmax attention (dilution)."),
    source="note 004: TransNormer (The Devil in Linear Transformer)",
    area="attention",
    quick={"seeds": 5, "trials": 400, "n": 32, "d": 16, "seq": 256, "corr": 4.0, "window": 8, "block": 16,
           "scales": [0.5, 1.0, 2.0]},
    full={"seeds": 10, "trials": 2000, "n": 64, "seq": 1024},
    rule=verdict,
)
@single_threaded
def att_transnormer(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    norms = [_grad_norms(b["trials"], b["n"], b["d"], s) for s in seeds]
    tails = {f: [_tail(nm[f]) for nm in norms] for f in FORMS}
    tail_ratio = log_ratio(tails["vanilla linear"], tails["NormAttention"])
    scales = list(b["scales"])
    if 1.0 not in scales:
        scales.append(1.0)
    mass = {p: {sc: [] for sc in scales} for p in POOLERS}
    profile = None
    for s in seeds:
        x = _hidden(b["seq"], b["d"], b["corr"], s)
        for sc in scales:
            ws = _weights(x, sc, b["block"])
            for p in POOLERS:
                mass[p][sc].append(_local_mass(ws[p], b["window"]))
            if profile is None and sc == 1.0:
                profile = ws
    local_ratio = log_ratio(mass["softmax"][1.0], mass["vanilla linear"][1.0])
    held = verdict(tail_ratio, local_ratio)
    uniform = _local_mass(torch.full((b["seq"], b["seq"]), 1.0 / b["seq"]), b["window"])       # (2w+1)/N inside

    rows = []
    for f in FORMS:
        allv = torch.cat([nm[f] for nm in norms])
        e = estimate(tails[f])
        rows.append({"measure": f"gradient tail index (p99/median of ‖∂L/∂scores‖), {f}", "mean": round(e.mean, 3),
                     "± (95% CI)": round(e.half_width, 3), "seeds": e.n,
                     "detail": (f"all draws: median {allv.median().item():.3g}, p99 {allv.quantile(0.99).item():.3g}, "
                                f"max {allv.max().item():.3g}")})
    for p in POOLERS:
        for sc in scales:
            e = estimate(mass[p][sc])
            rows.append({"measure": f"attention mass within ±{b['window']} tokens, {p}, σ={sc:g}",
                         "mean": round(e.mean, 4), "± (95% CI)": round(e.half_width, 4), "seeds": e.n,
                         "detail": f"uniform weights give {uniform:.3f}"})
    tail_text = ratio_text(tail_ratio, what="seeds")
    local_text = ratio_text(local_ratio, what="seeds")

    fig, axes = subplots(1, 3, width=4.0)
    a = axes[0, 0]
    styles = {"vanilla linear": ("C3", "-", 2.0), "NormAttention": ("C0", "--", 1.6), "softmax": ("C2", ":", 2.2)}
    for f in FORMS:
        c, ls, lw = styles[f]
        v = torch.cat([nm[f] for nm in norms])
        a.hist((v / v.median()).log10().numpy(), bins=50, histtype="step", color=c, ls=ls, lw=lw,
               label=f"{f} (tail {estimate(tails[f]).mean:.2f})")
    a.set(xlabel="log10(‖∂L/∂scores‖ / median)", ylabel="count", yscale="log",
          title=f"gradient norms, {len(seeds)}×{b['trials']} random inputs")
    a.legend(fontsize=7)
    a = axes[0, 1]
    marks = {"softmax": ("C2", "o-"), "vanilla linear": ("C3", "s--"), "DiagAttention": ("C1", "^:")}
    for p in POOLERS:
        c, fmt = marks[p]
        es = [estimate(mass[p][sc]) for sc in sorted(scales)]
        a.errorbar(sorted(scales), [e.mean for e in es], yerr=[e.half_width for e in es], fmt=fmt, color=c,
                   capsize=3, label=p)
    a.axhline(uniform, color="k", ls=(0, (1, 3)), label="uniform weights")
    a.set(xscale="log", xlabel="input scale σ (q = k = σ·LayerNorm(x))", ylabel=f"mass within ±{b['window']} tokens",
          title="dilution (mean ± 95% CI over seeds)", ylim=(0, 1.05))
    a.set_xticks(sorted(scales), [f"{sc:g}" for sc in sorted(scales)], minor=False)
    a.set_xticks([], minor=True)
    a.legend(fontsize=7)
    a = axes[0, 2]
    i = b["seq"] // 2 + b["block"] // 2
    lo, hi = max(0, i - 4 * b["window"]), min(b["seq"], i + 4 * b["window"] + 1)
    pos = list(range(lo, hi))
    for p in POOLERS:
        c, fmt = marks[p]
        wv = profile[p][i, lo:hi].clamp_min(1e-6).numpy()
        a.semilogy(pos, wv, fmt, color=c, ms=3, lw=1.2, label=p)
    a.axhline(1 / b["seq"], color="k", ls=(0, (1, 3)), label="uniform 1/N")
    a.axvspan(i - b["window"], i + b["window"], color="0.85", zorder=0)
    a.set(xlabel="key position", ylabel=f"weight of query {i} (log)", title="one query, σ=1 (shaded: ±w)",
          ylim=(1e-6, 1.5))
    a.legend(fontsize=7)
    ctx.figure("gradients_and_dilution", fig, caption=(
        "Left: gradient-norm distributions (normalized by each form's median; step histograms, log counts). "
        "Middle: local attention mass vs input scale. Right: one query's weights by key position (log scale; "
        "DiagAttention is zero outside its block, drawn at the 1e-6 floor)."))
    m1 = {p: estimate(mass[p][1.0]) for p in POOLERS}
    return CardResult(
        table=rows, held=held,
        reason=(f"tail index (p99/median of ‖∂L/∂scores‖) vanilla linear / NormAttention: {tail_text} (needs > "
                f"{TAIL_MARGIN:g}x); softmax's tail {estimate(tails['softmax']).mean:.2f}. Local mass (±{b['window']}, "
                f"σ=1) softmax / vanilla linear: {local_text} (needs > {DILUTION_MARGIN}x); masses: "
                + ", ".join(f"{p} {m1[p].mean:.3f}" for p in POOLERS) + f", uniform {uniform:.3f}."),
        notes=("Features are elu+1 as in the paper. The dilution inputs are untrained hidden states with local "
               "correlation; the paper measures trained models, whose locality comes from training."),
        effects={"gradient tail ratio vanilla / NormAttention": (tail_ratio, tail_text),
                 "local mass ratio softmax / vanilla linear (σ=1)": (local_ratio, local_text)},
    )
