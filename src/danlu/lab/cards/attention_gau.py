"""att-gau: single-head GAU vs MHA+FFN at equal parameters and equal steps on a tiny LM task.

Hua et al., "Transformer Quality in Linear Time" (arXiv:2202.10447): one Gated Attention Unit
(u ⊙ (relu²(q k^T / n) v), single head, shared low-dimensional z for q and k; danlu's
``create_attention("gau")``) replaces the MHA + FFN pair, and two GAU layers take the parameters
of one Transformer block.

Arms (same embedding, sinusoidal positions, pre-norm residual layers, final LayerNorm and head):

* MHA+FFN: ``depth`` blocks of ``x + MHA(LN(x))`` (softmax, ``heads`` heads) and ``x + FFN(LN(x))``;
* GAU: ``2·depth`` layers of ``x + GAU(LN(x))`` (expansion E = 2d, qk width s), no FFN.

The FFN hidden width is solved so that the two models have equal parameter counts (within one
hidden unit's worth; the card refuses a gap above 1%). Both train on danlu.data's ``copy`` task
with the same data, data order, optimizer (AdamW, one-cycle schedule), learning rate, batch and
steps for each seed, through the tiny LM's training path (:func:`danlu.attention.models.fit_lm`,
danlu's training engine). Quality: test token accuracy; the effect is GAU − MHA+FFN, paired by seed,
with its 95% t interval. Cost: CPU time of one training step (forward, backward, optimizer) on
the training batch, in ``repeats`` interleaved rounds (single thread,
:mod:`danlu.lab.cards._attention_common`); the effect is the ratio GAU / MHA+FFN with its
interval. FLOPs per step (``FlopCounterMode``, forward + backward) are reported beside it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards._attention_common import best_of
from danlu.lab.evidence import (
    Decision,
    Estimate,
    all_of,
    decide,
    estimate,
    log_ratio,
    paired,
    ratio_text,
    seeds_for,
)
from danlu.lab.threads import one_thread, single_threaded

QUALITY_MARGIN = -0.05
COST_MARGIN = 1.0
ARMS = ("MHA+FFN", "GAU")


def verdict(quality_gap: Estimate, cost_ratio: Estimate, baseline_accuracy: Estimate, chance: float) -> Decision:
    """Inconclusive if the MHA+FFN baseline did not learn the task (its mean test accuracy below
    twice chance). Otherwise held iff the 95% interval of the test-accuracy gap GAU − MHA+FFN
    (paired by seed) lies wholly above -0.05 (GAU's quality within 5 points) AND the 95% interval
    of the training-step time ratio GAU / MHA+FFN lies wholly below 1 (GAU cheaper). Not held if
    either interval lies wholly on the wrong side of its margin; otherwise inconclusive.
    ``cost_ratio`` is the estimate of log(time GAU / time MHA+FFN).

    Margins: 5 points of accuracy is the "≈ quality" allowance (the test split's binomial noise is
    about 1 point, the seed-to-seed spread is in the interval); cost margin 1 (the claim is only
    "lower"; round-to-round noise of a CPU-time ratio is a few percent, in the interval).
    """
    if baseline_accuracy.mean < 2 * chance:
        return None
    return all_of(decide(quality_gap, QUALITY_MARGIN), decide(cost_ratio, math.log(COST_MARGIN), higher_is_better=False))


class _LM(nn.Module):
    """tokens (B, N) -> logits (B, N, vocab): embedding + positions, pre-norm residual sublayers, LN, head."""

    def __init__(self, vocab: int, dim: int, sublayers: list[nn.Module]) -> None:
        super().__init__()
        from danlu.attention.positional import SinusoidalPositionalEncoding

        self.embed = nn.Embedding(vocab, dim)
        self.pos = SinusoidalPositionalEncoding(dim)
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in sublayers)
        self.layers = nn.ModuleList(sublayers)
        self.ln_f = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.pos(self.embed(tokens))                                          # (B, N, dim)
        for norm, layer in zip(self.norms, self.layers):
            x = x + layer(norm(x))
        return self.head(self.ln_f(x))


def _ffn(dim: int, hidden: int) -> nn.Module:
    return nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def build(arm: str, vocab: int, b: dict, ffn_hidden: int | None = None) -> nn.Module:
    """The ``arm`` model; MHA+FFN's FFN width is ``ffn_hidden`` (default: solved to match GAU's parameters)."""
    from danlu.attention import create_attention

    d, depth = b["dim"], b["depth"]
    if arm == "GAU":
        return _LM(vocab, d, [create_attention("gau", d, causal=True, expansion=2, qk_dim=b["qk_dim"])
                              for _ in range(2 * depth)])
    if ffn_hidden is None:
        ffn_hidden = matched_ffn_hidden(vocab, b)
    subs: list[nn.Module] = []
    for _ in range(depth):
        subs += [create_attention("softmax", d, heads=b["heads"], causal=True), _ffn(d, ffn_hidden)]
    return _LM(vocab, d, subs)


def matched_ffn_hidden(vocab: int, b: dict) -> int:
    """FFN hidden width giving MHA+FFN the parameter count of the GAU model (params are linear in it)."""
    target = _params(build("GAU", vocab, b))
    p1, p2 = _params(build("MHA+FFN", vocab, b, 1)), _params(build("MHA+FFN", vocab, b, 2))
    return max(1, round(1 + (target - p1) / (p2 - p1)))


def _step_fn(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step() -> None:
        loss = F.cross_entropy(model(xb).flatten(0, 1), yb.flatten(), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def _flops_per_step(model: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        F.cross_entropy(model(xb).flatten(0, 1), yb.flatten(), ignore_index=-100).backward()
    model.zero_grad(set_to_none=True)
    return fc.get_total_flops()


@card(
    id="att-gau",
    title="GAU vs MHA+FFN at equal parameters",
    claim=("At equal parameters and equal training steps on a tiny LM task, single-head GAU layers reach the "
           "quality of MHA+FFN blocks at a lower cost per training step."),
    source="note 004: GAU / FLASH (Transformer Quality in Linear Time)",
    area="attention",
    quick={"seeds": 5, "steps": 150, "dim": 32, "depth": 1, "heads": 4, "qk_dim": 16, "batch": 32, "n": 3000,
           "length": 10, "vocab": 10, "lr": 1e-2, "repeats": 5, "calls": 2},
    full={"seeds": 8, "steps": 1500, "dim": 64, "depth": 2, "qk_dim": 32, "batch": 64, "n": 5000, "length": 16,
          "vocab": 16, "lr": 3e-3, "repeats": 10},
    slow=True,
    rule=verdict,
)
@single_threaded
def att_gau(ctx: CardContext) -> CardResult:
    from danlu.attention.models import evaluate_lm, fit_lm
    from danlu.data import load_dataset
    from danlu.plotting import subplots
    from danlu.runtime import seed_everything

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    acc: dict[str, list[float]] = {a: [] for a in ARMS}
    curves: dict[str, list[list[float]]] = {a: [] for a in ARMS}
    params: dict[str, int] = {}
    hidden = None
    for s in seeds:
        splits = load_dataset("copy", seed=s, n=b["n"], length=b["length"], vocab=b["vocab"])
        xtr, ytr = splits.train.tensors
        xte, yte = splits.test.tensors
        vocab = splits.num_classes
        if hidden is None:
            hidden = matched_ffn_hidden(vocab, b)
        for arm in ARMS:
            seed_everything(s)
            model = build(arm, vocab, b, hidden).to(ctx.device)
            params[arm] = _params(model)
            curves[arm].append(fit_lm(model, xtr, ytr, steps=b["steps"], batch_size=b["batch"], lr=b["lr"],
                                      seed=s, device=ctx.device))            # same batches for both arms
            acc[arm].append(evaluate_lm(model, xte.to(ctx.device), yte.to(ctx.device)))
    gap_pct = abs(params["GAU"] - params["MHA+FFN"]) / params["MHA+FFN"]
    if gap_pct > 0.01:
        raise RuntimeError(f"att-gau: parameter counts differ by {gap_pct:.1%} ({params}); the comparison is unfair")

    # cost: one training step on the training batch shape, interleaved rounds of single-thread CPU time
    torch.manual_seed(ctx.seed)
    xb, yb = xtr[:b["batch"]].to(ctx.device), ytr[:b["batch"]].to(ctx.device)
    models = {a: build(a, vocab, b, hidden).to(ctx.device) for a in ARMS}
    flops = {a: _flops_per_step(m, xb, yb) for a, m in models.items()}
    steps = {a: _step_fn(m, xb, yb) for a, m in models.items()}
    times: dict[str, list[float]] = {a: [] for a in ARMS}
    with one_thread(ctx.device):
        for fn in steps.values():
            fn()                                                                  # warm-up
        for _ in range(b["repeats"]):
            for a in ARMS:
                times[a].append(best_of(steps[a], ctx.device, b["calls"]))
    cost = log_ratio(times["GAU"], times["MHA+FFN"])
    gap = paired(acc["GAU"], acc["MHA+FFN"])
    base = estimate(acc["MHA+FFN"])
    chance = 1 / (b["vocab"] - 2)
    held = verdict(gap, cost, base, chance)

    rows = []
    for a in ARMS:
        e = estimate(acc[a])
        rows.append({"model": a, "layers": (f"{b['depth']} × (MHA {b['heads']} heads + FFN {hidden})" if a == "MHA+FFN"
                                            else f"{2 * b['depth']} × GAU (E={2 * b['dim']}, s={b['qk_dim']})"),
                     "params": params[a], "test_accuracy": round(e.mean, 4), "± (95% CI)": round(e.half_width, 4),
                     "per seed": " ".join(f"{v:.3f}" for v in acc[a]),
                     "ms/step (median)": round(1e3 * sorted(times[a])[len(times[a]) // 2], 3),
                     "MFLOP/step": round(flops[a] / 1e6, 2)})
    gap_text = gap.describe(what="seeds", digits=3)
    cost_text = ratio_text(cost, what="rounds")

    fig, axes = subplots(1, 3, width=3.9)
    style = {"MHA+FFN": ("C0", "-"), "GAU": ("C3", "--")}
    for a in ARMS:
        c, ls = style[a]
        for j, cv in enumerate(curves[a]):
            axes[0, 0].plot(cv, color=c, ls=ls, lw=1.2, alpha=0.85, label=a if j == 0 else None)
    axes[0, 0].set(xlabel="step", ylabel="train loss", yscale="log", title=f"training ({len(seeds)} seeds each)")
    axes[0, 0].legend(fontsize=7)
    ax = axes[0, 1]
    for i, a in enumerate(ARMS):
        e = estimate(acc[a])
        ax.bar(i, e.mean, color=style[a][0], alpha=0.6, yerr=e.half_width, capsize=4)
        ax.plot([i + 0.25] * len(acc[a]), acc[a], "o", color="0.2", mfc="white", ms=4)
    ax.axhline(chance, color="k", ls=":", label=f"chance {chance:.3f}")
    ax.set_xticks(range(len(ARMS)), [f"{a}\n{params[a]} params" for a in ARMS])
    ax.set(ylabel="test token accuracy", title="quality (mean, 95% CI, seeds)", ylim=(0, 1.05))
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[0, 2]
    for i, a in enumerate(ARMS):
        ax.plot([i] * len(times[a]), [1e3 * t for t in times[a]], "o", color=style[a][0], ms=6, alpha=0.7)
    ax.set_xticks(range(len(ARMS)), [f"{a}\n{flops[a] / 1e6:.1f} MFLOP" for a in ARMS])
    ax.set_xlim(-0.5, 1.5)
    ax.set(ylabel="ms per training step (CPU time)", title=f"cost, {b['repeats']} rounds")
    ctx.figure("gau_vs_mha", fig, caption=("Equal parameters, equal steps and data: training loss, test accuracy, "
                                           "and time per training step (each dot one round)."))
    learned = "" if base.mean >= 2 * chance else f" MHA+FFN did not learn the task (mean {base.mean:.3f})."
    return CardResult(
        table=rows, held=held,
        reason=(f"test accuracy GAU − MHA+FFN: {gap_text} (needs > {QUALITY_MARGIN}); time per training step "
                f"GAU / MHA+FFN: {cost_text} (needs < {COST_MARGIN:g}x); FLOPs per step {flops['GAU'] / 1e6:.2f} vs "
                f"{flops['MHA+FFN'] / 1e6:.2f} M; params {params['GAU']} vs {params['MHA+FFN']}.{learned}"),
        notes=("Copy task (length " + str(b["length"]) + "), sequences of " + str(2 * b["length"] + 1) + " tokens: at "
               "this length the cost is set by the layers' matrix products and per-layer overheads, not by the "
               "n² attention term that GAU's single small head (and FLASH's chunked form) cut at long contexts."),
        effects={"accuracy gap GAU − MHA+FFN": (gap, gap_text), "step time ratio GAU / MHA+FFN": (cost, cost_text)},
    )
