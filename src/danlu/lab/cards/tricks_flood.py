"""tr-flood: flooding keeps the training loss near b and improves the test loss (note 004).

Ishida et al., "Do We Need Zero Training Loss After Achieving Zero Training Error?", arXiv:2002.08709.
The flooded loss ``|L - b| + b`` equals ``L`` above the flood level b and reverses the gradient below
it, so the training loss floats around b instead of going to zero. The paper shows it on benchmarks
and on synthetic data with flipped labels, choosing b from a grid by validation (their Fig. 1: the
plain run's test loss rises once its training loss nears zero; the flooded one's does not).

Comparison: the same over-parameterised MLP, initial weights and data order per seed, on a small
digits subset whose training labels are flipped to a random class with probability ``noise``
(validation and test labels stay clean), trained with cross entropy vs flooded cross entropy. b is
chosen from the grid ``bs`` by the lowest median validation CE (as the paper does). Precondition: the
plain run's final training CE is below 0.05 (it memorised, including the noise); otherwise
inconclusive. Held: the chosen flooded run's late mini-batch loss stays within [b/2, 2b] AND its final
test CE is lower than the plain run's (medians over seeds).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _noisy_train(ctx: CardContext) -> TensorDataset:
    """The first ``n_train`` digits of a seeded permutation, a ``noise`` share of labels re-drawn uniformly."""
    b = ctx.budget
    x, y = T.subset(T.digits(ctx.seed).train, b["n_train"], ctx.seed).tensors
    g = torch.Generator().manual_seed(ctx.seed + 1)
    flip = torch.rand(len(y), generator=g) < b["noise"]                      # (N,)
    return TensorDataset(x, torch.where(flip, torch.randint(0, 10, (len(y),), generator=g), y))


def _one(ctx: CardContext, train: TensorDataset, seed: int, b_flood: float | None) -> dict[str, Any]:
    from danlu.losses import create_loss
    from danlu.models import create_model
    from danlu.optim import create_optimizer

    b = ctx.budget
    data = T.digits(ctx.seed)
    torch.manual_seed(seed)
    model = create_model("mlp", in_features=64, num_classes=10, depth=2, width=b["width"])
    opt = create_optimizer("adam", model, lr=b["lr"], fused=True)
    loss = create_loss("cross_entropy") if b_flood is None else create_loss("flooding", b=b_flood)
    run = T.train(model, train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, loss_fn=loss, seed=seed,
                  eval_every=b["steps"] // b["evals"],
                  eval_fn=lambda m: {**T.metrics(m, train, "train_"), **T.metrics(m, data.val, "val_"),
                                     **T.metrics(m, data.test, "test_")})
    tail = run.losses[-max(1, b["steps"] // 5):]
    return {"evals": run.evals, "late_batch_loss": sum(tail) / len(tail), **run.evals[-1]}


@card(id="tr-flood", title="Flooding: a floor under the training loss",
      claim="Flooding keeps the training loss near the flood level b instead of zero, and the test loss ends lower.",
      source="note 004: tricks column (flooding)", area="tricks",
      quick={"seeds": 2, "bs": [0.1, 0.3, 0.5], "noise": 0.2, "n_train": 200, "steps": 400, "batch": 50,
             "width": 256, "lr": 2e-3, "evals": 8},
      full={"seeds": 5, "bs": [0.05, 0.1, 0.2, 0.3, 0.5, 0.7], "n_train": 400, "steps": 2000, "evals": 20})
def tr_flood(ctx: CardContext) -> CardResult:
    from danlu.plotting import subplots

    budget = ctx.budget
    seeds = [ctx.seed + i for i in range(budget["seeds"])]
    train = _noisy_train(ctx)
    runs = {bf: [_one(ctx, train, s, bf) for s in seeds] for bf in [None, *budget["bs"]]}
    val = {bf: T.median([r["val_loss"] for r in rs]) for bf, rs in runs.items() if bf is not None}
    bf = min(val, key=val.get)                                                # chosen by validation CE
    plain, flood = runs[None], runs[bf]

    fig, axes = subplots(1, 2, width=4.6)
    for (name, rs), color in zip((("plain CE", plain), (f"flooded b={bf:g}", flood)), ("tab:red", "tab:blue"),
                                 strict=True):
        for i, r in enumerate(rs):
            steps = [e["step"] for e in r["evals"]]
            lab = name if i == 0 else None
            axes[0][0].plot(steps, [e["train_loss"] for e in r["evals"]], color=color, alpha=0.7, label=lab)
            axes[0][1].plot(steps, [e["test_loss"] for e in r["evals"]], color=color, alpha=0.7, label=lab)
    axes[0][0].axhline(bf, color="k", ls=":", lw=1, label="b")
    axes[0][0].set(yscale="log", xlabel="step", ylabel="training CE (noisy labels)", title="training loss")
    axes[0][1].set(xlabel="step", ylabel="test CE (clean labels)", title="test loss")
    axes[0][0].legend(fontsize=7)
    axes[0][1].legend(fontsize=7)
    ctx.figure("curves", fig, caption="Training and test cross entropy, one line per seed; b chosen by validation.")

    table = [{"loss": "plain CE" if b is None else f"flooded b={b:g}" + (" (chosen)" if b == bf else ""),
              "median late batch loss": T.median([r["late_batch_loss"] for r in rs]),
              "median final train CE": T.median([r["train_loss"] for r in rs]),
              "median final val CE": T.median([r["val_loss"] for r in rs]),
              "median final test CE": T.median([r["test_loss"] for r in rs]),
              "median test accuracy": T.median([r["test_acc"] for r in rs])} for b, rs in runs.items()]
    pl, fl = table[0], table[1 + budget["bs"].index(bf)]
    memorised = pl["median final train CE"] < 0.05
    near_b = bf / 2 <= fl["median late batch loss"] <= 2 * bf
    better = fl["median final test CE"] < pl["median final test CE"]
    held = (near_b and better) if memorised else None
    reason = (f"{budget['n_train']} training digits with {budget['noise']:.0%} flipped labels, {budget['steps']} Adam "
              f"steps, {T.fmt_seeds(seeds)}; b={bf:g} chosen from {budget['bs']} by validation CE. Plain CE's final "
              f"training CE is {pl['median final train CE']:.3f} (precondition: below 0.05); the flooded run's late "
              f"mini-batch loss is {fl['median late batch loss']:.3f} (held needs within [{bf / 2:g}, {2 * bf:g}]); "
              f"final test CE {fl['median final test CE']:.3f} flooded vs {pl['median final test CE']:.3f} plain "
              f"(held needs lower); test accuracy {fl['median test accuracy']:.1%} vs {pl['median test accuracy']:.1%}.")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds, "b": bf, "val_ce": val})
