"""vis-resnet-grad: gradient scale across depth and training loss of deep plain vs residual nets (notes 000-003).

He et al., "Deep Residual Learning for Image Recognition", arXiv:1512.03385. With a shortcut,
``dL/dx_l = dL/dx_L * (1 + d/dx_l sum F)``: the product of layer Jacobians of a plain net becomes a
sum that always contains the identity ("multiplication becomes addition"), so the gradient keeps its
scale from the last layer to the first instead of shrinking or blowing up geometrically with depth.
He et al. note their plain nets use BN and show "healthy" gradient norms, and that the plain nets'
failure is in optimisation: their evidence is the TRAINING error (Fig. 1, 4). A deep plain BN net's
gradient can also EXPLODE towards the input, so "a larger first-layer gradient" is not a sign of
health; the card measures the gradient's spread across depth instead: ``|log(first / last)|`` of
the per-conv gradient norms at initialisation (0 = the same scale at both ends).

Comparison: danlu's ``plainnet`` and ``resnet_small`` (identical layers, the plain one without
shortcuts, BatchNorm as in the paper), the same initial weights where shapes agree and the same data
order per seed, on the digits images. Two measures per seed, each paired plain vs residual:

* gradient spread at initialisation (one forward/backward on 128 training images, BN in training
  mode) of twins ``probe_depths`` deep; the rule uses the deepest (50 weight layers in quick and full);
* final training loss (cross entropy on the whole training split, eval mode) of twins trained with
  the same hyper-parameters for both, the paper's SGD (momentum 0.9, lr 0.1, weight decay 1e-4, not
  tuned for either net) with cosine decay to 0 over the budget (the paper divides the lr by 10 at
  plateaus; a decayed end makes the final loss a settled value); compared as log(plain / residual).

The verdict is :func:`verdict`. Margins (fixed before the verdict seeds were run, from pilot seeds
10-14 that are never used for a verdict): gradient spread 0.5 (a factor 1.65 between the two ends;
the pilot's per-seed SD of either net's spread was 0.3-0.8 at 50 layers), and a final-loss ratio of
1.5 (log 0.41; the pilot's per-seed SD of log final loss was 0.15 for the residual net, 0.6 for the
plain one, which the interval carries).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.evidence import (
    Estimate,
    all_of,
    decide,
    log_ratio,
    paired,
    ratio_text,
    seeds_for,
    verdict_text,
)

SPREAD_MARGIN = 0.5               # nepers of |log(first / last)|
LOSS_MARGIN = math.log(1.5)       # log of the plain / residual final training loss


def verdict(spread_gap: Estimate, loss_log_ratio: Estimate, residual_train_acc: float,
            spread_margin: float = SPREAD_MARGIN, loss_margin: float = LOSS_MARGIN) -> bool | None:
    """Held when, over seeds (95% t intervals of paired per-seed values): the plain net's gradient
    spread at initialisation minus the residual net's, |log(first/last conv grad norm)|, lies wholly
    above 0.5, AND log(plain final training loss / residual final training loss) lies wholly above
    log 1.5 (the residual net ends at least 1.5x lower). Not held when either interval lies wholly
    below its margin; inconclusive otherwise, and inconclusive when the residual net does not train
    (mean training accuracy below 50%).
    """
    if residual_train_acc < 0.5:
        return None
    return all_of(decide(spread_gap, spread_margin), decide(loss_log_ratio, loss_margin))


def _grad_profile(model: Any, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    model.train()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [c.weight.grad.norm().item() for c in model.convs()]


def _spread(profile: list[float]) -> float:
    return abs(math.log(profile[0] / profile[-1]))


def _one(ctx: CardContext, seed: int, data: Any) -> dict[str, Any]:
    """Gradient profiles at every probe depth and one training run per net, for ``seed``."""
    from danlu.models import create_model
    from danlu.optim import create_optimizer, create_schedule

    b = ctx.budget
    px, py = data.train.tensors[0][:128], data.train.tensors[1][:128]
    out: dict[str, Any] = {}
    for name in ("plainnet", "resnet_small"):
        probes = []
        for cfg in b["probe"]:
            torch.manual_seed(seed)
            probes.append(_grad_profile(create_model(name, in_channels=1, num_classes=10, norm="bn", **cfg), px, py))
        torch.manual_seed(seed)
        model = create_model(name, in_channels=1, num_classes=10, widths=b["widths"], blocks=b["blocks"], norm="bn")
        opt = create_optimizer("sgd", model, lr=b["lr"], weight_decay=b["wd"])
        sched = create_schedule("cosine", opt, total_steps=b["steps"])
        run = T.train(model, data.train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, schedule=sched,
                      seed=seed)
        out[name] = {"probes": probes, "losses": run.losses, **T.metrics(model, data.test, "test_"),
                     **T.metrics(model, data.train, "train_")}
    return out


def _figure(ctx: CardContext, res: list[dict[str, Any]], seeds: list[int], depths: list[int], train_depth: int) -> None:
    from danlu.plotting import subplots

    names = {"plainnet": "plain", "resnet_small": "residual"}
    fig, axes = subplots(1, 3, width=3.9)
    ax = axes[0][0]
    for i, name in enumerate(names):
        prof = res[0][name]["probes"][-1]
        ax.semilogy(range(1, len(prof) + 1), prof, "o-", ms=3, color=f"C{i}", label=names[name])
    ax.set(xlabel="conv layer (1 = next to the input)", ylabel="‖∂L/∂W‖ at init",
           title=f"{depths[-1]} weight layers, seed {seeds[0]}")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    for i, name in enumerate(names):
        for r in res:
            ax.plot(depths, [_spread(p) for p in r[name]["probes"]], ".", color=f"C{i}", alpha=0.5)
        mean = [sum(_spread(r[name]["probes"][k]) for r in res) / len(res) for k in range(len(depths))]
        ax.plot(depths, mean, "o-", color=f"C{i}", label=f"{names[name]} (mean; dots: seeds)")
    ax.set_xticks(depths)
    ax.set(xlabel="weight layers", ylabel="|log(first / last grad norm)|", title="gradient spread at init")
    ax.legend(fontsize=7)
    ax = axes[0][2]
    for i, name in enumerate(names):
        for j, r in enumerate(res):
            ls = r[name]["losses"]
            smooth = T.trailing_mean(ls, 10)
            ax.plot(smooth, color=f"C{i}", alpha=0.7, lw=1, label=names[name] if j == 0 else None)
    ax.set(xlabel="step", ylabel="training loss (mean of 10 batches)", yscale="log",
           title=f"{train_depth} weight layers, one line per seed")
    ax.legend(fontsize=7)
    ctx.figure("gradient", fig, caption="Per-conv gradient norm at initialisation of the deepest twins; the "
                                        "gradient's spread |log(first/last)| against depth (dots: seeds); "
                                        "training loss of the trained twins (cosine-decayed SGD).")


@card(id="vis-resnet-grad", title="Deep plain vs residual nets: gradient spread across depth and training loss",
      claim=("In a deep net, shortcut connections keep the gradient's scale steadier from the last layer to the "
             "first, and the residual net reaches a lower training loss than its plain twin."),
      source="note 003: ResNet (multiplication becomes addition)", area="vision", rule=verdict, slow=True,
      quick={"seeds": 5, "blocks": 6, "widths": [16], "steps": 150, "batch": 32, "lr": 0.1, "wd": 1e-4,
             "probe": [{"widths": [16], "blocks": 6}, {"widths": [16, 32], "blocks": 6},
                       {"widths": [16, 32], "blocks": 12}]},
      full={"seeds": 5, "blocks": 12, "widths": [16, 32], "steps": 1500})
def vis_resnet_grad(ctx: CardContext) -> CardResult:
    b = ctx.budget
    data = T.digits(ctx.seed, flatten=False)
    seeds = seeds_for(ctx.seed, b["seeds"])
    res = [_one(ctx, s, data) for s in seeds]
    depths = [len(p) + 1 for p in res[0]["plainnet"]["probes"]]
    train_depth = 2 + 2 * b["blocks"] * len(b["widths"])
    _figure(ctx, res, seeds, depths, train_depth)

    sp = {n: [_spread(r[n]["probes"][-1]) for r in res] for n in ("plainnet", "resnet_small")}
    loss = {n: [r[n]["train_loss"] for r in res] for n in ("plainnet", "resnet_small")}
    spread_gap = paired(sp["plainnet"], sp["resnet_small"])
    loss_ratio = log_ratio(loss["plainnet"], loss["resnet_small"])
    res_acc = sum(r["resnet_small"]["train_acc"] for r in res) / len(res)
    held = verdict(spread_gap, loss_ratio, res_acc)

    def mean(xs: list[float]) -> float:
        return sum(xs) / len(xs)

    table = [{"net": name, f"gradient spread at init, {depths[-1]} layers (mean)": mean(sp[name]),
              f"first / last grad norm at init, {depths[-1]} layers (mean)":
                  mean([r[name]["probes"][-1][0] / r[name]["probes"][-1][-1] for r in res]),
              f"final training loss, {train_depth} layers (mean)": mean(loss[name]),
              "training accuracy (mean)": mean([r[name]["train_acc"] for r in res]),
              "test accuracy (mean)": mean([r[name]["test_acc"] for r in res])}
             for name in ("plainnet", "resnet_small")]
    sp_txt = spread_gap.describe(digits=2)
    loss_txt = ratio_text(loss_ratio, what="seeds")
    reason = (f"Seeds {seeds[0]}-{seeds[-1]}, BN twins. Gradient spread |log(first/last)| at init, {depths[-1]} "
              f"layers: {mean(sp['plainnet']):.2f} plain vs {mean(sp['resnet_small']):.2f} residual, difference "
              f"{sp_txt}. {train_depth}-layer twins after {b['steps']} SGD steps (lr {b['lr']} cosine-decayed, "
              f"momentum 0.9): final training loss {mean(loss['plainnet']):.3f} plain vs "
              f"{mean(loss['resnet_small']):.3f} residual, plain / residual {loss_txt}; test accuracy "
              f"{table[0]['test accuracy (mean)']:.1%} vs {table[1]['test accuracy (mean)']:.1%}. "
              f"{verdict_text(held).capitalize()}: needs the spread difference above {SPREAD_MARGIN} and the loss "
              f"ratio above {math.exp(LOSS_MARGIN):.1f}x, both beyond their intervals.")
    effects = {"final training loss, plain / residual": (loss_ratio, loss_txt),
               "gradient spread, plain - residual": (spread_gap, sp_txt)}
    return CardResult(table=table, held=held, reason=reason, effects=effects,
                      notes="The gradient is probed at initialisation only (cheap at any depth); training runs at "
                            "the budget's depth. Both nets get the paper's hyper-parameters, unchanged.",
                      extra={"seeds": seeds, "depths": depths, "spread": sp, "final_train_loss": loss})
