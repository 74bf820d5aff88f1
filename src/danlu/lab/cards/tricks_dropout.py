"""tr-dropout: dropout narrows the train/test gap (note 004).

Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from Overfitting", JMLR 2014
(arXiv:1207.0580). Comparison: the same wide MLP, initial weights and data order on a small digits
subset, with dropout p=0.5 after each hidden layer vs none, trained for the same steps. Gap = train
accuracy - test accuracy (both in eval mode). Held: the median gap is smaller with dropout and test
accuracy is not lower by more than 1 point.
"""

from __future__ import annotations

from typing import Any

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _one(ctx: CardContext, seed: int, p: float) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    data = T.digits(ctx.seed)
    train = T.subset(data.train, b["n_train"], ctx.seed)
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=b["depth"], width=b["width"], dropout=p)
    opt = create_optimizer("adam", model, lr=b["lr"])
    run = T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, seed=seed,
                  eval_every=b["eval_every"], eval_fn=lambda m: {**T.metrics(m, train, "train_"),
                                                                 **T.metrics(m, data.test, "test_")})
    last = run.evals[-1]
    return {"evals": run.evals, "train_acc": last["train_acc"], "test_acc": last["test_acc"],
            "gap": last["train_acc"] - last["test_acc"], "loss_gap": last["test_loss"] - last["train_loss"]}


@card(id="tr-dropout", title="Dropout and the train/test gap",
      claim="Dropout shrinks the gap between training and test accuracy of an over-parameterised network.",
      source="note 004: tricks column (dropout)", area="tricks",
      quick={"seeds": 3, "p": 0.5, "n_train": 200, "steps": 250, "batch": 50, "depth": 2, "width": 256,
             "lr": 1e-3, "eval_every": 50},
      full={"seeds": 8, "n_train": 400, "steps": 1500, "width": 512})
def tr_dropout(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    p = ctx.budget["p"]
    seeds = [ctx.seed + i for i in range(ctx.budget["seeds"])]
    res = {name: [_one(ctx, s, q) for s in seeds] for name, q in (("no dropout", 0.0), (f"dropout {p}", p))}
    fig, axes = subplots(1, 1, width=4.8)
    ax = axes[0][0]
    for i, (name, rs) in enumerate(res.items()):
        ev = rs[0]["evals"]
        steps = [e["step"] for e in ev]
        ax.plot(steps, [e["train_acc"] for e in ev], "-", color=f"C{i}", label=f"{name} train")
        ax.plot(steps, [e["test_acc"] for e in ev], "--", color=f"C{i}", label=f"{name} test")
    ax.set(xlabel="step", ylabel="accuracy", title=f"train vs test accuracy (seed {seeds[0]})", ylim=(0.5, 1.01))
    ax.legend(fontsize=7)
    ctx.figure("gap", fig, caption="Training (solid) and test (dashed) accuracy with and without dropout.")
    table = [{"model": name, "median train acc": T.median([r["train_acc"] for r in rs]),
              "median test acc": T.median([r["test_acc"] for r in rs]),
              "median gap (train - test acc)": T.median([r["gap"] for r in rs]),
              "median loss gap (test - train CE)": T.median([r["loss_gap"] for r in rs])} for name, rs in res.items()]
    no, do = table
    k = "median gap (train - test acc)"
    held = do[k] < no[k] and do["median test acc"] >= no["median test acc"] - 0.01
    reason = (f"{ctx.budget['n_train']} training digits, width {ctx.budget['width']}, {ctx.budget['steps']} steps, "
              f"{T.fmt_seeds(seeds)}: median train-test accuracy gap {do[k]:.1%} with dropout {p} vs {no[k]:.1%} "
              f"without (held needs smaller); test accuracy {do['median test acc']:.1%} vs {no['median test acc']:.1%} "
              f"(held needs no more than 1 point lost); CE gap {do['median loss gap (test - train CE)']:.3f} vs "
              f"{no['median loss gap (test - train CE)']:.3f}.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds})
