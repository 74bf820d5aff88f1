"""tr-relu: sigmoid gradients vanish in a deep MLP; ReLU gradients do not (note 004, tricks column).

The comparison: two MLPs identical but for the activation (same depth, width, optimizer, data order
and budget) on the digits data, each with the initialisation recommended for its activation
(Glorot & Bengio 2010 for sigmoid, He et al. 2015, arXiv:1502.01852, for ReLU), as practitioners use them. We measure the gradient norm of every hidden
layer's weight on the same batch at initialisation, the ratio first-layer / last-layer ("how much of
the gradient survives the trip back"), and the test accuracy after the same number of steps.
"""

from __future__ import annotations

import torch
from torch import nn

from danlu.lab import CardContext, CardResult, card


def _layer_grad_norms(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[float]:
    model.zero_grad()
    nn.functional.cross_entropy(model(x), y).backward()
    return [lin.weight.grad.norm().item() for lin in model.hidden_linears()]


_INIT = {
    "sigmoid": lambda w: nn.init.xavier_normal_(w),
    "relu": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
}


def _accuracy(model: nn.Module, ds: torch.utils.data.TensorDataset) -> float:
    x, y = ds.tensors
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


@card(
    id="tr-relu",
    title="ReLU vs sigmoid in a deep MLP",
    claim=("In a deep MLP the sigmoid's gradient vanishes towards the input layers while ReLU's does not, "
           "so with the same budget the ReLU net trains and the sigmoid net lags."),
    source="note 004: tricks column (ReLU); note 003: vanishing gradients",
    area="tricks",
    quick={"depth": 10, "width": 64, "epochs": 4, "batch": 64, "lr": 0.05},
    full={"depth": 20, "width": 128, "epochs": 30},
)
def tr_relu(ctx: CardContext) -> CardResult:
    from danlu.data import load_dataset, make_loader
    from danlu.models import create_model
    from danlu.plotting import subplots

    b = ctx.budget
    data = load_dataset("digits", seed=ctx.seed, flatten=True)
    probe_x, probe_y = data.train.tensors[0][:256], data.train.tensors[1][:256]
    results = {}
    for act in ("sigmoid", "relu"):
        torch.manual_seed(ctx.seed)
        model = create_model("mlp", in_features=64, num_classes=10, depth=b["depth"], width=b["width"],
                             activation=act)
        for lin in model.hidden_linears():
            _INIT[act](lin.weight)
            nn.init.zeros_(lin.bias)
        model = model.to(ctx.device)
        px, py = probe_x.to(ctx.device), probe_y.to(ctx.device)
        init_norms = _layer_grad_norms(model, px, py)
        opt = torch.optim.SGD(model.parameters(), lr=b["lr"], momentum=0.9)
        losses = []
        for epoch in range(b["epochs"]):
            for x, y in make_loader(data.train, b["batch"], shuffle=True, seed=ctx.seed + epoch):
                x, y = x.to(ctx.device), y.to(ctx.device)
                loss = nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
        model.eval()
        results[act] = {
            "init_norms": init_norms,
            "final_norms": _layer_grad_norms(model, px, py),
            "losses": losses,
            "test_acc": _accuracy(model.cpu(), data.test),
        }

    fig, axes = subplots(1, 2, width=4.6)
    for act, color in (("sigmoid", "tab:red"), ("relu", "tab:blue")):
        r = results[act]
        layers = range(1, len(r["init_norms"]) + 1)
        axes[0][0].semilogy(layers, r["init_norms"], "o-", color=color, label=f"{act} (init)")
        axes[0][0].semilogy(layers, r["final_norms"], "x--", color=color, alpha=0.6, label=f"{act} (after training)")
        axes[0][1].plot(r["losses"], color=color, label=act, lw=1)
    axes[0][0].set(xlabel="hidden layer (1 = next to the input)", ylabel="‖∂L/∂W‖", title="per-layer gradient norm")
    axes[0][1].set(xlabel="step", ylabel="training loss", title=f"training loss, depth {b['depth']}")
    axes[0][0].legend(fontsize=7)
    axes[0][1].legend(fontsize=7)
    ctx.figure("gradients", fig, caption="Gradient norm per hidden layer (log scale) and training loss.")

    table = []
    for act, r in results.items():
        n = r["init_norms"]
        table.append({"activation": act, "grad norm layer 1": n[0], f"grad norm layer {len(n)}": n[-1],
                      "first / last": n[0] / n[-1], "test accuracy": r["test_acc"],
                      "final train loss": sum(r["losses"][-10:]) / 10})
    s, rl = table[0], table[1]
    vanish = s["first / last"] < 0.1 * rl["first / last"]
    better = rl["test accuracy"] > s["test accuracy"] + 0.05
    held = vanish and better
    reason = (f"At init the first/last layer gradient ratio is {s['first / last']:.2e} for sigmoid vs "
              f"{rl['first / last']:.2e} for ReLU (held needs sigmoid < 0.1x ReLU); after {b['epochs']} epochs "
              f"test accuracy is {s['test accuracy']:.1%} (sigmoid) vs {rl['test accuracy']:.1%} (ReLU) "
              f"(held needs ReLU ahead by > 5 points). Seed {ctx.seed}, depth {b['depth']}, SGD lr {b['lr']}, Glorot init (sigmoid) / He init (ReLU).")
    return CardResult(table=table, held=held, reason=reason,
                      extra={a: {k: v for k, v in r.items() if k != "losses"} for a, r in results.items()})
