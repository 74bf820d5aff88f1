"""tr-flood: flooding keeps the training loss near b and improves the test loss (note 004).

Ishida et al., "Do We Need Zero Training Loss After Achieving Zero Training Error?", arXiv:2002.08709.
Comparison: the same over-parameterised MLP, data order and initial weights, trained on a small digits
subset until plain cross entropy goes to ~0, with loss ``CE`` vs ``|CE - b| + b``. Held: the flooded
run's late training loss stays within [b/2, 2b] AND its final test loss is lower than the plain run's
(medians over seeds).
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _one(ctx: CardContext, seed: int, b_flood: float | None) -> dict[str, Any]:
    from danlu.losses import create_loss
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    data = T.digits(ctx.seed)
    train = T.subset(data.train, b["n_train"], ctx.seed)
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
    opt = create_optimizer("adam", model, lr=b["lr"])
    loss = create_loss("cross_entropy") if b_flood is None else create_loss("flooding", b=b_flood)
    run = T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, loss_fn=loss, seed=seed,
                  eval_every=b["eval_every"],
                  eval_fn=lambda m: {**T.metrics(m, train, "train_"), **T.metrics(m, data.test, "test_")})
    tail = run.losses[-max(1, b["steps"] // 5):]
    return {"evals": run.evals, "late_batch_loss": sum(tail) / len(tail), **{k: v for k, v in run.evals[-1].items()}}


@card(id="tr-flood", title="Flooding: a floor under the training loss",
      claim="Flooding keeps the training loss near the flood level b instead of zero, and the test loss ends lower.",
      source="note 004: tricks column (flooding)", area="tricks",
      quick={"seeds": 3, "b": 0.1, "n_train": 200, "steps": 300, "batch": 50, "width": 128, "lr": 1e-3,
             "eval_every": 25},
      full={"seeds": 8, "n_train": 400, "steps": 1500, "width": 256, "eval_every": 50})
def tr_flood(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    bf = ctx.budget["b"]
    seeds = [ctx.seed + i for i in range(ctx.budget["seeds"])]
    res = {name: [_one(ctx, s, None if name == "plain CE" else bf) for s in seeds]
           for name in ("plain CE", f"flooded (b={bf})")}
    fig, axes = subplots(1, 2, width=4.6)
    for (name, rs), color in zip(res.items(), ("tab:red", "tab:blue"), strict=True):
        for i, r in enumerate(rs):
            steps = [e["step"] for e in r["evals"]]
            lab = name if i == 0 else None
            axes[0][0].plot(steps, [e["train_loss"] for e in r["evals"]], color=color, alpha=0.7, label=lab)
            axes[0][1].plot(steps, [e["test_loss"] for e in r["evals"]], color=color, alpha=0.7, label=lab)
    axes[0][0].axhline(bf, color="k", ls=":", lw=1, label="b")
    axes[0][0].set(yscale="log", xlabel="step", ylabel="training loss (CE)", title="training loss")
    axes[0][1].set(xlabel="step", ylabel="test loss (CE)", title="test loss")
    axes[0][0].legend(fontsize=7)
    axes[0][1].legend(fontsize=7)
    ctx.figure("curves", fig, caption="Training and test cross entropy, one line per seed.")

    table = [{"loss": name, "median late batch loss": T.median([r["late_batch_loss"] for r in rs]),
              "median final train CE": T.median([r["train_loss"] for r in rs]),
              "median final test CE": T.median([r["test_loss"] for r in rs]),
              "median test accuracy": T.median([r["test_acc"] for r in rs])} for name, rs in res.items()]
    plain, fl = table
    near_b = bf / 2 <= fl["median late batch loss"] <= 2 * bf
    better = fl["median final test CE"] < plain["median final test CE"]
    held = near_b and better
    reason = (f"{ctx.budget['n_train']} training digits, {ctx.budget['steps']} Adam steps, {T.fmt_seeds(seeds)}: the "
              f"flooded run's late mini-batch loss is {fl['median late batch loss']:.3f} (held needs within "
              f"[{bf / 2:g}, {2 * bf:g}]) vs {plain['median late batch loss']:.4f} plain; final test CE "
              f"{fl['median final test CE']:.3f} flooded vs {plain['median final test CE']:.3f} plain (held needs "
              f"lower); test accuracy {fl['median test accuracy']:.1%} vs {plain['median test accuracy']:.1%}.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds, "b": bf})
