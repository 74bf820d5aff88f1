"""att-transnormer: the two problems TransNormer names in vanilla linear attention, measured.

1. Unbounded gradient (Qin et al., arXiv:2210.10340 §3.1). Vanilla linear attention divides
   by the score sum: o_i = Σ_j A_ij v_j / Σ_j A_ij, so ∂o/∂A carries a factor 1/Σ_j A_ij that has
   no upper bound; softmax's Jacobian is bounded (by 1/4) and NormAttention drops the division
   (o = RMSNorm(A v)). We draw many random inputs (elu+1 features, causal, N tokens) and record
   the gradient norm ‖∂L/∂A‖ of a random linear loss for each form; a heavy tail (p99 and max
   far above the median) is the signature of an unbounded gradient.
2. Attention dilution (§3.2). With queries and keys that encode position (sinusoidal, so that
   nearby tokens are similar), we measure the attention mass each query puts on its ±w
   neighbours under softmax, vanilla linear (elu+1) and DiagAttention (block-local softmax).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from danlu.lab import CardContext, CardResult, card


def _grad_norms(trials: int, n: int, d: int, seed: int) -> dict[str, list[float]]:
    g = torch.Generator().manual_seed(seed)
    out: dict[str, list[float]] = {"vanilla linear": [], "NormAttention": [], "softmax": []}
    tril = torch.tril(torch.ones(n, n, dtype=torch.bool))
    for _ in range(trials):
        q, k, v = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))
        probe = torch.randn(n, d, generator=g, dtype=torch.float64)
        a = ((F.elu(q) + 1) @ (F.elu(k) + 1).T * tril).requires_grad_()          # (N, N) scores, causal
        o = (a @ v) / (a.sum(-1, keepdim=True) + 1e-12)
        out["vanilla linear"].append(torch.autograd.grad((o * probe).sum(), a)[0].norm().item())
        a2 = a.detach().requires_grad_()
        o2 = F.rms_norm(a2 @ v, (d,))
        out["NormAttention"].append(torch.autograd.grad((o2 * probe).sum(), a2)[0].norm().item())
        s = (q @ k.T / d ** 0.5).masked_fill(~tril, float("-inf")).requires_grad_()
        o3 = torch.softmax(s, -1) @ v
        out["softmax"].append(torch.autograd.grad((o3 * probe).sum(), s)[0].norm().item())
    return out


def _local_mass(n: int, d: int, window: int, block: int, temperature: float) -> dict[str, float]:
    from danlu.attention.positional import sinusoidal_encoding

    e = sinusoidal_encoding(n, d, base=n, dtype=torch.float64) * temperature   # (N, D) position codes
    near = (torch.arange(n)[:, None] - torch.arange(n)[None, :]).abs() <= window
    soft = torch.softmax(e @ e.T / d ** 0.5, -1)
    fe = F.elu(e) + 1
    lin = fe @ fe.T
    lin = lin / lin.sum(-1, keepdim=True)
    same_block = (torch.arange(n)[:, None] // block) == (torch.arange(n)[None, :] // block)
    diag = torch.softmax((e @ e.T / d ** 0.5).masked_fill(~same_block, float("-inf")), -1)
    return {name: (w * near).sum(-1).mean().item() for name, w in
            (("softmax", soft), ("vanilla linear", lin), ("DiagAttention", diag))}, (soft, lin, diag)


@card(
    id="att-transnormer",
    title="TransNormer: unbounded gradients and attention dilution",
    claim=("Vanilla linear attention has a heavy-tailed (unbounded) gradient with respect to its scores and "
           "spreads attention mass away from local neighbours, while NormAttention keeps the gradient tail "
           "bounded and block-local DiagAttention keeps the mass local."),
    source="note 004: TransNormer (The Devil in Linear Transformer)",
    area="attention",
    quick={"trials": 400, "n": 32, "d": 16, "seq": 256, "window": 8, "block": 16, "temperature": 4.0},
    full={"trials": 5000, "n": 64},
)
def att_transnormer(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    b = ctx.budget
    norms = _grad_norms(b["trials"], b["n"], b["d"], ctx.seed)
    rows, tails = [], {}
    for name, vals in norms.items():
        t = torch.tensor(vals)
        med, p99, mx = t.median().item(), t.quantile(0.99).item(), t.max().item()
        tails[name] = p99 / med
        rows.append({"measure": f"grad norm wrt scores: {name}", "median": med, "p99": p99, "max": mx,
                     "p99/median": p99 / med})
    mass, (soft, lin, diag) = _local_mass(b["seq"], b["d"], b["window"], b["block"], b["temperature"])
    for name, m in mass.items():
        rows.append({"measure": f"attention mass within ±{b['window']} tokens: {name}", "median": m})
    held = (tails["vanilla linear"] > 3 * tails["NormAttention"]
            and mass["vanilla linear"] < mass["softmax"] <= mass["DiagAttention"])

    fig, axes = subplots(1, 2, width=4.6)
    for name, vals in norms.items():
        axes[0, 0].hist(torch.tensor(vals).log10().numpy(), bins=40, alpha=0.5, label=name)
    axes[0, 0].set(xlabel="log10 ‖∂L/∂scores‖", ylabel="count", title="gradient norms over random inputs")
    axes[0, 0].legend(fontsize=7)
    i = b["seq"] // 2
    for name, w in (("softmax", soft), ("vanilla linear", lin), ("DiagAttention", diag)):
        axes[0, 1].plot(w[i].numpy(), label=name)
    axes[0, 1].set(xlabel="key position", ylabel=f"weight of query {i}", title="dilution")
    axes[0, 1].legend(fontsize=7)
    ctx.figure("gradients_and_dilution", fig,
               caption="Left: gradient-norm distributions. Right: one query's attention weights by position.")
    return CardResult(
        table=rows, held=held,
        reason=(f"gradient p99/median: vanilla linear {tails['vanilla linear']:.1f}, NormAttention "
                f"{tails['NormAttention']:.1f}, softmax {tails['softmax']:.1f}; local mass (±{b['window']}): "
                + ", ".join(f"{k} {v:.3f}" for k, v in mass.items()) + "; the gradient part asks for a tail "
                "3x heavier than NormAttention's."),
        notes=("Features are elu+1 as in the paper; with relu features rows with no positive score make both "
               "forms blow up (division by ~0 and RMSNorm of ~0), which hides the difference."),
    )
