"""vis-bn: a deeper net converges faster with batch normalization (notes 001-003).

Ioffe & Szegedy, "Batch Normalization", arXiv:1502.03167. Comparison: danlu's ``plainnet`` (no
shortcuts, so normalization is the only help) with ``norm="bn"`` vs ``norm="none"``, same initial
conv weights, data order, SGD learning rate and steps on the digits images. Speed = number of steps
until the running mean (window 10) of the training loss first falls below 1.0, and the mean training
loss over the run. Held: BN gets there in fewer steps (never = budget + 1) and has lower mean loss,
median over seeds.
"""

from __future__ import annotations

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _steps_to(losses: list[float], threshold: float, window: int = 10) -> int:
    for i in range(window, len(losses) + 1):
        if sum(losses[i - window:i]) / window < threshold:
            return i
    return len(losses) + 1


@card(id="vis-bn", title="BatchNorm and convergence speed of a deeper net",
      claim="A deeper convolutional net reaches a given training loss in fewer steps with batch normalization than without.",
      source="note 003: batch normalization", area="vision",
      quick={"seeds": 2, "blocks": 3, "widths": [16], "steps": 100, "batch": 32, "lr": 0.05, "threshold": 1.0},
      full={"seeds": 5, "blocks": 6, "widths": [16, 32], "steps": 1000})
def vis_bn(ctx: CardContext) -> CardResult:
    from danlu.models import create_model
    from danlu.optim import create_optimizer
    from danlu.plotting import subplots

    b = ctx.budget
    data = T.digits(ctx.seed, flatten=False)
    seeds = [ctx.seed + i for i in range(b["seeds"])]
    res: dict[str, list[list[float]]] = {"bn": [], "none": []}
    for norm in res:
        for s in seeds:
            torch.manual_seed(s)
            model = create_model("plainnet", in_channels=1, num_classes=10, widths=b["widths"], blocks=b["blocks"],
                                 norm=norm)
            opt = create_optimizer("sgd", model, lr=b["lr"])
            res[norm].append(T.train(model, data.train, steps=b["steps"], batch_size=b["batch"], optimizer=opt,
                                     seed=s).losses)
    fig, axes = subplots(1, 1, width=4.8)
    ax = axes[0][0]
    for i, (norm, runs) in enumerate(res.items()):
        for j, losses in enumerate(runs):
            ax.plot(losses, color=f"C{i}", alpha=0.7, label=f"norm={norm}" if j == 0 else None)
    ax.axhline(b["threshold"], color="k", ls=":", lw=1)
    depth = 2 + 2 * b["blocks"] * len(b["widths"])
    ax.set(xlabel="step", ylabel="training loss", title=f"{depth}-layer plain net, one line per seed")
    ax.legend()
    ctx.figure("loss", fig, caption="Training loss with and without BatchNorm; dotted line = the threshold.")
    table = [{"norm": norm, "median steps to loss < threshold": T.median([_steps_to(r, b["threshold"]) for r in runs]),
              "median mean training loss": T.median([sum(r) / len(r) for r in runs]),
              "median final loss (last 10)": T.median([sum(r[-10:]) / 10 for r in runs])} for norm, runs in res.items()]
    bn, no = table
    k1, k2 = "median steps to loss < threshold", "median mean training loss"
    held = bn[k1] < no[k1] and bn[k2] < no[k2]
    reason = (f"{depth}-layer plain conv net, SGD lr {b['lr']}, {b['steps']} steps, {T.fmt_seeds(seeds)}: median steps "
              f"to a training loss below {b['threshold']} are {bn[k1]:g} with BN vs {no[k1]:g} without "
              f"({b['steps'] + 1} = never); mean training loss {bn[k2]:.3f} vs {no[k2]:.3f} (held needs BN lower on both).")
    return CardResult(table=table, held=held, reason=reason, extra={"seeds": seeds})
