"""vis-finetune: fine-tuning a pretrained network beats training from scratch with few labels (note 003).

d2l, "Fine-Tuning" (ImageNet-pretrained ResNet-18 fine-tuned on a small hot-dog dataset beats the
same net from scratch); Yosinski et al., "How transferable are features in deep neural networks?",
arXiv:1411.1792. The embedded stand-in for ImageNet pre-training: per seed, danlu's ``cnn``
(widths 16, 32) is trained on sklearn digits 0-4 (all ~900 of them), its head is replaced
by a fresh 5-way one (:func:`danlu.vision.finetune.replace_head`), and it is fine-tuned on
``labels`` images per class of digits 5-9 with d2l's recipe: every weight trainable, the new head
at the learning rate ``lr`` and the pretrained layers at ``lr / 10`` (discriminative learning
rates, :func:`danlu.vision.finetune.param_groups`). The baseline is the same architecture from a
random init trained on the same images with every weight at ``lr``. Same Adam, steps, batches and
data order (danlu.train.fit). Test: every digit 5-9 not used for training (about 800). The verdict
is :func:`verdict` on the paired (same seed) gain at the smallest label count.

History, for honesty: the first run (seeds 0-2) fine-tuned every layer at the same ``lr`` as the
baseline, not d2l's recipe, and saw -2.4 ± 2.2 points at 5 labels per class and -0.4 ± 1.1 at 20
(from-scratch accuracy was already 88% and 96%: 5-way digits are easy at 8x8). The protocol was
then changed to the source's recipe; the label counts and the margin were not changed. That run
gave -6.9 ± 12.6 and -3.9 ± 2.3 points; every phase's learning rate now decays to 0 with a cosine
schedule (both arms) to narrow the last-iterate noise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards import _tricks_common as T
from danlu.lab.evidence import Estimate, decide, paired, seeds_for

MARGIN = 2.0  # accuracy points the fine-tuned model must gain at the smallest label count


def verdict(gain_fewest: Estimate) -> bool | None:
    """Held when, at the smallest number of labels per class, the 95% t interval over seeds of the
    paired test-accuracy gain of the fine-tuned model over the from-scratch one (points) lies wholly
    above +2; not held when it lies wholly below +2; inconclusive when it straddles.
    """
    return decide(gain_fewest, MARGIN)


def _digits_by_class() -> tuple[torch.Tensor, torch.Tensor]:
    d = T.digits(0, flatten=False)
    x = torch.cat([d.train.tensors[0], d.val.tensors[0], d.test.tensors[0]])
    y = torch.cat([d.train.tensors[1], d.val.tensors[1], d.test.tensors[1]])
    return x, y


def _split(x: torch.Tensor, y: torch.Tensor, labels: int, seed: int) -> tuple[TensorDataset, TensorDataset, TensorDataset]:
    """Pretraining set (digits 0-4), ``labels`` per class of 5-9 (relabelled 0-4), the rest of 5-9."""
    g = torch.Generator().manual_seed(seed)
    pre = y < 5
    few, rest = [], []
    for c in range(5, 10):
        idx = torch.nonzero(y == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        few.append(idx[:labels])
        rest.append(idx[labels:])
    fi, ri = torch.cat(few), torch.cat(rest)
    return (TensorDataset(x[pre], y[pre]), TensorDataset(x[fi], y[fi] - 5), TensorDataset(x[ri], y[ri] - 5))


def _net(b: dict[str, Any]) -> torch.nn.Module:
    from danlu.models import create_model

    return create_model("cnn", in_channels=1, num_classes=5, widths=b["widths"], image_size=8)


def _fit(model: torch.nn.Module, data: TensorDataset, steps: int, b: dict[str, Any], seed: int,
         body_lr: float | None = None) -> None:
    from danlu.vision.finetune import param_groups

    params = model.parameters() if body_lr is None else param_groups(model, {"head.*": b["lr"]}, default_lr=body_lr)
    opt = torch.optim.Adam(params, lr=b["lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    T.train(model, data, steps=steps, batch_size=min(b["batch"], len(data)), optimizer=opt, seed=seed,
            schedule=sched)


def _one(ctx: CardContext, x: torch.Tensor, y: torch.Tensor, seed: int) -> dict[int, dict[str, float]]:
    from danlu.vision.finetune import replace_head

    b = ctx.budget
    out: dict[int, dict[str, float]] = {}
    pre_set, _, _ = _split(x, y, 1, seed)
    torch.manual_seed(seed)
    pretrained = _net(b)
    _fit(pretrained, pre_set, b["pretrain_steps"], b, seed)
    state = {k: v.clone() for k, v in pretrained.state_dict().items()}
    for labels in b["labels"]:
        _, few, test = _split(x, y, labels, seed)
        torch.manual_seed(seed + 1)
        tuned = _net(b)
        tuned.load_state_dict(state)
        replace_head(tuned, 5)          # a fresh head: the 0-4 classifier means nothing for 5-9
        torch.manual_seed(seed + 1)
        scratch = _net(b)
        _fit(tuned, few, b["steps"], b, seed, body_lr=b["lr"] * b["body_lr_factor"])
        _fit(scratch, few, b["steps"], b, seed)
        out[labels] = {"fine-tuned": 100 * T.metrics(tuned, test)["acc"],
                       "scratch": 100 * T.metrics(scratch, test)["acc"], "n_test": len(test)}
    return out


def _figure(ctx: CardContext, res: list[dict[int, dict[str, float]]], labels: list[int]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 1, width=5.0, height=3.5)
    ax = axes[0][0]
    for i, arm in enumerate(("fine-tuned", "scratch")):
        for r in res:
            ax.plot(labels, [r[n][arm] for n in labels], "-", color=f"C{i}", alpha=0.3, lw=1)
        ax.plot(labels, [sum(r[n][arm] for r in res) / len(res) for n in labels], "o-", lw=2, color=f"C{i}",
                label=f"{arm} (mean; thin: seeds)")
    ax.set_xscale("log")
    ax.set_xticks(labels, [str(n) for n in labels])
    ax.minorticks_off()
    ax.set(xlabel="labelled images per class (digits 5-9)", ylabel="test accuracy (%)",
           title="pretrained on digits 0-4 vs from scratch")
    ax.legend(fontsize=7)
    ctx.figure("labels", fig, caption="Test accuracy on digits 5-9 against the number of labelled images per class, "
               "for the network pretrained on digits 0-4 and fine-tuned, and the same network from scratch.")


@card(id="vis-finetune", title="Fine-tuning vs training from scratch with few labels",
      claim="A network pretrained on related data and fine-tuned beats the same network trained from scratch "
            "when labels are few.",
      source="note 003: fine-tuning / transfer learning", area="vision", rule=verdict, slow=True,
      quick={"seeds": 3, "labels": [5, 20], "pretrain_steps": 200, "steps": 100, "batch": 32, "lr": 3e-3,
             "body_lr_factor": 0.1, "widths": [16, 32]},
      full={"seeds": 6, "labels": [2, 5, 10, 20, 50], "pretrain_steps": 1000, "steps": 300})
def vis_finetune(ctx: CardContext) -> CardResult:
    b = ctx.budget
    labels = sorted(b["labels"])
    x, y = _digits_by_class()
    seeds = seeds_for(ctx.seed, b["seeds"])
    res = [_one(ctx, x, y, s) for s in seeds]
    gains = {n: paired([r[n]["fine-tuned"] for r in res], [r[n]["scratch"] for r in res]) for n in labels}
    held = verdict(gains[labels[0]])
    _figure(ctx, res, labels)
    table = [{"labels per class": n, "fine-tuned acc (mean %)": sum(r[n]["fine-tuned"] for r in res) / len(res),
              "scratch acc (mean %)": sum(r[n]["scratch"] for r in res) / len(res),
              "gain (points)": gains[n].mean, "test images": res[0][n]["n_test"]} for n in labels]
    texts = {n: gains[n].describe(unit=" points", digits=1) for n in labels}
    reason = (f"Pretrained on digits 0-4 ({b['pretrain_steps']} steps), fine-tuned {b['steps']} steps on digits 5-9: "
              + "; ".join(f"{n} labels/class: {texts[n]}" for n in labels)
              + f" over from scratch (held needs the {labels[0]}-label gain above +{MARGIN:g}).")
    return CardResult(table=table, held=held, reason=reason,
                      effects={f"gain at {n} labels/class (points)": (gains[n], texts[n]) for n in labels},
                      extra={"seeds": seeds})
