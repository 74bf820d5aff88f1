"""att-quality: the tiny causal LM with each attention kind, same everything else, equal steps.

Task: danlu.data's ``associative_recall`` (``k1 v1 ... kP vP q`` -> the value stored under q),
the standard probe of whether a token mixer can retrieve from its context (Zoology,
arXiv:2312.04927). Only the mixer changes between runs (same width, depth, optimizer, steps,
seed, data order). Chance accuracy is 1/values.
"""

from __future__ import annotations

from danlu.lab import CardContext, CardResult, card

KINDS = ("softmax", "linear", "performer", "gau", "transnormer")


@card(
    id="att-quality",
    title="Attention kinds on associative recall",
    claim=("At equal training steps on associative recall, exact softmax attention is at least as accurate "
           "as the linear-time approximations (linear attention and Performer)."),
    source="note 004: linear attention quality (GAU, TransNormer, Performer)",
    area="attention",
    quick={"steps": 150, "dim": 32, "depth": 1, "heads": 2, "batch": 32, "n": 1000, "pairs": 4, "keys": 8,
           "values": 8, "lr": 3e-3},
    full={"steps": 2000, "dim": 64, "depth": 2, "heads": 4, "batch": 64, "n": 5000, "pairs": 8, "keys": 16,
          "values": 16},
    slow=True,
)
def att_quality(ctx: CardContext) -> CardResult:
    from danlu.attention.models import train_lm
    from danlu.plotting import subplots

    b = ctx.budget
    task = {"n": b["n"], "pairs": b["pairs"], "keys": b["keys"], "values": b["values"]}
    runs = [train_lm(kind, task="associative_recall", task_kwargs=task, steps=b["steps"], batch_size=b["batch"],
                     lr=b["lr"], dim=b["dim"], depth=b["depth"], heads=b["heads"], seed=ctx.seed,
                     device=ctx.device) for kind in KINDS]
    chance = 1 / b["values"]
    rows = [{"attention": r["attention"], "test_accuracy": r["test_accuracy"], "final_loss": r["losses"][-1],
             "params": r["params"], "seconds": r["seconds"]} for r in runs]
    acc = {r["attention"]: r["test_accuracy"] for r in runs}
    if acc["softmax"] < 2 * chance:
        held = None                                                               # the reference did not learn
    else:
        held = acc["softmax"] >= max(acc["linear"], acc["performer"]) - 0.02
    fig, axes = subplots(1, 2, width=4.6)
    for r in runs:
        axes[0, 0].plot(r["losses"], label=r["attention"], lw=1)
    axes[0, 0].set(xlabel="step", ylabel="train loss", title="training")
    axes[0, 0].legend(fontsize=7)
    axes[0, 1].bar(list(acc), list(acc.values()))
    axes[0, 1].axhline(chance, color="k", ls=":", label="chance")
    axes[0, 1].set(ylabel="test accuracy", title="associative recall")
    axes[0, 1].tick_params(axis="x", rotation=30)
    ctx.figure("quality", fig, caption="Tiny causal LM, equal steps, by attention kind.")
    return CardResult(
        table=rows, held=held,
        reason=("test accuracy " + ", ".join(f"{k} {v:.3f}" for k, v in acc.items())
                + f" (chance {chance:.3f}) after {b['steps']} steps."),
        notes="Quick mode is far too short for a firm ranking; run --full for the comparison that counts.",
    )
