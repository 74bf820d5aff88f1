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
shortcuts, BatchNorm as in the paper), same initial weights where shapes agree, same data order,
SGD (momentum 0.9, lr 0.1, weight decay 1e-4 as the paper) and steps, on the digits images. Measures:
the final training loss on the whole training split (eval mode; mean over the run shown too) and
the gradient spread. Held: the residual net has the lower final training loss AND the smaller
gradient spread; inconclusive if the residual net does not train (training accuracy below 50%).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T


def _grad_profile(model: Any, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    model.train()
    model.zero_grad()
    F.cross_entropy(model(x), y).backward()
    return [c.weight.grad.norm().item() for c in model.convs()]


@card(id="vis-resnet-grad", title="Deep plain vs residual nets: first-layer gradient and accuracy",
      claim=("In a deep net, shortcut connections keep the gradient's scale steadier from the last layer to the "
             "first, and the residual net reaches a lower training loss than its plain twin."),
      source="note 003: ResNet (multiplication becomes addition)", area="vision",
      quick={"blocks": 6, "widths": [16], "steps": 150, "batch": 32, "lr": 0.1, "wd": 1e-4},
      full={"blocks": 12, "widths": [16, 32], "steps": 1500})
def vis_resnet_grad(ctx: CardContext) -> CardResult:
    from danlu.models import create_model
    from danlu.optim import create_optimizer
    from danlu.plotting import subplots

    b = ctx.budget
    data = T.digits(ctx.seed, flatten=False)
    px, py = data.train.tensors[0][:128], data.train.tensors[1][:128]
    res: dict[str, dict[str, Any]] = {}
    for name in ("plainnet", "resnet_small"):
        torch.manual_seed(ctx.seed)
        model = create_model(name, in_channels=1, num_classes=10, widths=b["widths"], blocks=b["blocks"], norm="bn")
        init = _grad_profile(model, px, py)
        opt = create_optimizer("sgd", model, lr=b["lr"], weight_decay=b["wd"])
        run = T.train(model, data.train, steps=b["steps"], batch_size=b["batch"], optimizer=opt, seed=ctx.seed)
        res[name] = {"init": init, "losses": run.losses, **T.metrics(model, data.test, "test_"),
                     **T.metrics(model, data.train, "train_"), "mean_loss": sum(run.losses) / len(run.losses)}
    depth = len(res["plainnet"]["init"]) + 1
    fig, axes = subplots(1, 2, width=4.6)
    for i, (name, r) in enumerate(res.items()):
        axes[0][0].semilogy(range(1, len(r["init"]) + 1), r["init"], "o-", color=f"C{i}", label=name)
        axes[0][1].plot(r["losses"], color=f"C{i}", alpha=0.8, label=f"{name} (train acc {r['train_acc']:.1%})")
    axes[0][0].set(xlabel="conv layer (1 = next to the input)", ylabel="‖∂L/∂W‖ at init", title="per-layer gradient")
    axes[0][1].set(xlabel="step", ylabel="training loss", title=f"{depth} weight layers, seed {ctx.seed}")
    axes[0][0].legend(fontsize=7)
    axes[0][1].legend(fontsize=7)
    ctx.figure("gradient", fig, caption="Gradient norm per conv layer at initialisation, and training loss.")
    table = [{"net": name, "first-layer grad norm (init)": r["init"][0], "last-conv grad norm (init)": r["init"][-1],
              "first / last": r["init"][0] / r["init"][-1],
              "gradient spread |log(first/last)|": abs(math.log(r["init"][0] / r["init"][-1])),
              "mean training loss (run)": r["mean_loss"],
              "final training loss": r["train_loss"], "training accuracy": r["train_acc"],
              "test accuracy": r["test_acc"]} for name, r in res.items()]
    pl, rs = table
    k, f, g = "first-layer grad norm (init)", "final training loss", "gradient spread |log(first/last)|"
    held = (rs[g] < pl[g] and rs[f] < pl[f]) if rs["training accuracy"] >= 0.5 else None
    reason = (f"{depth}-weight-layer nets with BN, seed {ctx.seed}, {b['steps']} SGD steps (lr {b['lr']}, momentum "
              f"0.9): first-layer gradient norm at init {rs[k]:.3g} (residual) vs {pl[k]:.3g} (plain), first/last "
              f"ratio {rs['first / last']:.3g} vs {pl['first / last']:.3g} (spread {rs[g]:.2f} vs {pl[g]:.2f}); final "
              f"training loss {rs[f]:.3f} vs "
              f"{pl[f]:.3f} (mean over the run {rs['mean training loss (run)']:.3f} vs "
              f"{pl['mean training loss (run)']:.3f}); test accuracy {rs['test accuracy']:.1%} vs "
              f"{pl['test accuracy']:.1%}. Held needs the residual net lower on both the gradient spread and the "
              f"final training loss; inconclusive if the residual net's training accuracy stays below 50%.")
    return CardResult(table=table, held=held, reason=reason,
                      extra={"seeds": [ctx.seed], **{n: r["init"] for n, r in res.items()}})
