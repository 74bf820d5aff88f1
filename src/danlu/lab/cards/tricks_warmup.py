"""tr-warmup and tr-radam: linear warmup, and RAdam's rectification as a built-in warmup (note 004).

Shared setup: an MLP (depth 4, width 128) on the digits data, Adam at a deliberately large learning
rate (30x Adam's usual 1e-3), same batches and initial weights per seed. "Early instability" is the
largest training loss seen in the first quarter of the run divided by the loss at step 0: a value
above 1 means the loss went *up* past its untrained value (a spike). Final accuracy is on the
validation split after the whole run.

RAdam: Liu et al., "On the Variance of the Adaptive Learning Rate and Beyond", arXiv:1908.03265.
Warmup: Goyal et al., "Accurate, Large Minibatch SGD", arXiv:1706.02677.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T

QUICK = {"seeds": 3, "steps": 150, "warmup": 30, "lr": 0.03, "batch": 64, "depth": 4, "width": 128}
FULL = {"seeds": 8, "steps": 600, "warmup": 100}


def _run(ctx: CardContext, variant: str, seed: int) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.optim import create_optimizer, create_schedule

    b = ctx.budget
    data = T.digits(ctx.seed)
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=b["depth"], width=b["width"]).to(ctx.device)
    opt = create_optimizer("radam" if variant == "radam" else "adam", model, lr=b["lr"])
    warm = b["warmup"] if variant == "adam+warmup" else 0
    sched = create_schedule("constant", opt, total_steps=b["steps"], warmup_steps=warm)
    run = T.train(model, data.train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, schedule=sched,
                  seed=seed, device=ctx.device)
    early = run.losses[: max(2, b["steps"] // 4)]
    return {"losses": run.losses, "lrs": run.lrs, "spike": max(early) / run.losses[0],
            "val_acc": T.metrics(model.cpu(), data.val)["acc"], "final_loss": sum(run.losses[-10:]) / 10}


def _runs(ctx: CardContext, variants: tuple[str, ...]) -> tuple[list[int], dict[str, list[dict[str, Any]]]]:
    seeds = [ctx.seed + i for i in range(ctx.budget["seeds"])]
    return seeds, {v: [_run(ctx, v, s) for s in seeds] for v in variants}


def _summary(runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return [{"variant": v, "median early spike (max loss / initial)": T.median([r["spike"] for r in rs]),
             "median val accuracy": T.median([r["val_acc"] for r in rs]),
             "median final train loss": T.median([r["final_loss"] for r in rs])} for v, rs in runs.items()]


def _loss_figure(ctx: CardContext, runs: dict[str, list[dict[str, Any]]], extra_axis: Any = None) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.8)
    colors = {"adam": "tab:red", "adam+warmup": "tab:blue", "radam": "tab:green"}
    for v, rs in runs.items():
        for i, r in enumerate(rs):
            axes[0][0].plot(r["losses"], color=colors[v], alpha=0.6, lw=1, label=v if i == 0 else None)
        axes[0][1].plot(rs[0]["lrs"], color=colors[v], label=v)
    axes[0][0].set(yscale="log", xlabel="step", ylabel="training loss", title="loss, one line per seed")
    axes[0][1].set(xlabel="step", ylabel="learning rate", title="schedule (lr_at)")
    axes[0][0].legend(fontsize=7)
    axes[0][1].legend(fontsize=7)
    if extra_axis is not None:
        extra_axis(axes[0][1])
    ctx.figure("loss", fig, caption="Training loss per seed (log scale) and the learning rate actually used.")


@card(id="tr-warmup", title="Linear warmup at a large learning rate",
      claim="A linear warmup stabilises training at a large learning rate early on without costing final accuracy.",
      source="note 004: tricks column (warmup)", area="tricks", quick=QUICK, full=FULL)
def tr_warmup(ctx: CardContext) -> CardResult:
    seeds, runs = _runs(ctx, ("adam", "adam+warmup"))
    _loss_figure(ctx, runs)
    table = _summary(runs)
    no, wu = table
    k1, k2 = "median early spike (max loss / initial)", "median val accuracy"
    calmer = wu[k1] < no[k1]
    kept = wu[k2] >= no[k2] - 0.01
    held = calmer and kept
    reason = (f"Adam at lr {ctx.budget['lr']} for {ctx.budget['steps']} steps, with vs without a "
              f"{ctx.budget['warmup']}-step linear warmup, {T.fmt_seeds(seeds)}: median early spike "
              f"{wu[k1]:.2f} with warmup vs {no[k1]:.2f} without (held needs lower), median val accuracy "
              f"{wu[k2]:.1%} vs {no[k2]:.1%} (held needs no more than 1 point lost).")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds})


@card(id="tr-radam", title="RAdam: rectification as a built-in warmup",
      claim=("RAdam without warmup is as stable early as Adam with a warmup and more stable than Adam without one, "
             "because its rectification term starts near zero and rises to one."),
      source="note 004: tricks column (RAdam); Adam/AdamW note", area="tricks", quick=QUICK, full=FULL)
def tr_radam(ctx: CardContext) -> CardResult:
    from danlu.optim import radam_rectification

    seeds, runs = _runs(ctx, ("adam", "adam+warmup", "radam"))
    steps = ctx.budget["steps"]
    rect = [radam_rectification(t) or 0.0 for t in range(1, steps + 1)]

    def add_rect(ax: Any) -> None:
        ax.plot([ctx.budget["lr"] * r for r in rect], "k:", label="lr x RAdam r_t")
        ax.legend(fontsize=7)

    _loss_figure(ctx, runs, add_rect)
    table = _summary(runs)
    ad, wu, ra = table
    k1, k2 = "median early spike (max loss / initial)", "median val accuracy"
    calmer_than_adam = ra[k1] < ad[k1]
    like_warmup = ra[k1] <= wu[k1] * 1.25 + 0.05
    acc_ok = ra[k2] >= ad[k2] - 0.01
    held = calmer_than_adam and like_warmup and acc_ok
    first = next(t for t, r in enumerate(rect, 1) if r > 0)
    reason = (f"Adam vs Adam+{ctx.budget['warmup']}-step warmup vs RAdam at lr {ctx.budget['lr']}, "
              f"{T.fmt_seeds(seeds)}: median early spike {ad[k1]:.2f} / {wu[k1]:.2f} / {ra[k1]:.2f} "
              f"(held needs RAdam below Adam and within 25% (+0.05) of warmup), val accuracy {ad[k2]:.1%} / "
              f"{wu[k2]:.1%} / {ra[k2]:.1%} (RAdam within 1 point of Adam or better). r_t is undefined "
              f"(SGD-like step) until step {first}, then {rect[first - 1]:.2f}, reaching {rect[-1]:.2f} at step {steps}.")
    return CardResult(table=table, held=held, reason=reason,
                      extra={"seeds": seeds, "rectification": rect})
