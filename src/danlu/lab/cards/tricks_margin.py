"""tr-margin: angular-margin softmax losses and verification on unseen classes (note 003).

Liu et al. 2017 (SphereFace, arXiv:1704.08063), Wang et al. 2018 (CosFace, arXiv:1801.09414), Deng et al.
2019 (ArcFace, arXiv:1801.07698): a margin on the target angle makes the embedding of a class compact
and the classes far apart in angle, which is what verification of identities never seen in training
needs. The heads are :mod:`danlu.losses.margin`; the protocol is :mod:`danlu.metrics.verification`.

Comparison: the same MLP backbone (MNIST-5k, 784 -> 128 -> 128 -> ``dim`` embedding), data order and
initial weights per seed, trained on the classes 0-6 of the training split with plain softmax
(a linear layer with bias + cross entropy) or a margin head, the same Adam learning rate and steps
(the margin heads' weights train with the backbone, through ``danlu.train.fit`` and the
classification task with the head as its loss). Evaluation on the unseen classes 7-9 only: 1000
genuine and 1000 impostor pairs from the validation split choose the accept threshold, 1000 + 1000
pairs from the test split give ROC AUC, TAR@FAR=1e-2 and pair accuracy (cosine similarity).

The papers' scales and margins (s = 16 for all cosine heads, CosFace m = 0.35, ArcFace m = 0.5,
SphereFace m = 4 with its annealing) are used without tuning. The verdict is :func:`verdict` on the
per-seed mean over the two margin heads in the quick run (CosFace, ArcFace) of the paired gain over
softmax. Pilot seeds 100-102 (never used for a verdict) gave AUC gains of about +0.01 to +0.03 and
TAR gains of about +0.03, with per-seed spreads of the same size, so the budget runs 5 seeds.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, all_of, decide, estimate, seeds_for

SEEN = 7           # classes 0..6 train the embedding; 7..9 are the unseen identities
FAR = 1e-2
PAIRS = 1000       # genuine and impostor pairs per split
MARGIN_ARMS = ("cosface", "arcface")
HEADS: dict[str, dict[str, Any]] = {
    "normface": {"s": 16.0}, "cosface": {"s": 16.0, "m": 0.35}, "arcface": {"s": 16.0, "m": 0.5},
    "sphereface": {"m": 4}, "lsoftmax": {"m": 2},
}


def verdict(auc_gain: Estimate, tar_gain: Estimate) -> bool | None:
    """Held when the margin heads improve verification of unseen classes over plain softmax on both
    measures: the 95% t interval over seeds of the paired AUC gain (mean over CosFace and ArcFace of
    AUC(margin) - AUC(softmax), per seed) lies wholly above 0, and so does that of the TAR@FAR=1e-2
    gain. Not held when either interval lies wholly below 0; inconclusive otherwise.
    """
    return all_of(decide(auc_gain, 0.0), decide(tar_gain, 0.0))


class SoftmaxHead(nn.Module):
    """Plain softmax: a linear layer with bias on the embedding, cross entropy; ``forward(e (B, D), y (B,))``."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(in_features, num_classes)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return F.cross_entropy(self.fc(embeddings), labels)


def _head(name: str, dim: int) -> nn.Module:
    from danlu.losses import create_margin_head

    return SoftmaxHead(dim, SEEN) if name == "softmax" else create_margin_head(name, dim, SEEN, **HEADS[name])


def _split(ds: TensorDataset, seen: bool) -> tuple[Tensor, Tensor]:
    x, y = ds.tensors
    keep = y < SEEN if seen else y >= SEEN
    return x[keep], y[keep]


def _train(name: str, seed: int, data: TensorDataset, dim: int, steps: int, b: dict[str, Any]) -> nn.Module:
    from danlu.models import create_model
    from danlu.train import fit
    from danlu.train.tasks.classification import Classification

    torch.manual_seed(seed)
    backbone = create_model("mlp", in_features=784, num_classes=dim, depth=2, width=b["width"])
    head = _head(name, dim)
    opt = torch.optim.Adam([*backbone.parameters(), *head.parameters()], lr=b["lr"])
    fit(Classification(loss_fn=head), backbone, data, steps=steps, seed=seed, batch_size=b["batch"], optimizer=opt)
    return backbone.eval()


def _seed(seed: int, arms: list[str], b: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every arm on one seed's split and pairs: {arm: {"auc", "tar", "acc", "threshold"}}."""
    from danlu.data import load_dataset
    from danlu.metrics import verification as V

    s = load_dataset("mnist5k", seed=seed, flatten=True)
    xtr, ytr = _split(s.train, True)
    (xv, yv), (xt, yt) = _split(s.val, False), _split(s.test, False)
    pv, sv = V.make_pairs(yv, PAIRS, seed=seed)
    pt, st = V.make_pairs(yt, PAIRS, seed=seed + 10_000)
    out = {}
    for name in arms:
        model = _train(name, seed, TensorDataset(xtr, ytr), b["dim"], b["steps"], b)
        with torch.no_grad():
            ev, et = model(xv), model(xt)
        r = V.verify(V.pair_scores(ev, pv), sv, V.pair_scores(et, pt), st, far=FAR)
        out[name] = {"auc": r.auc, "tar": r.tar, "acc": r.accuracy, "threshold": r.threshold}
    return out


def _figure(ctx: CardContext, arms: list[str], seed: int, b: dict[str, Any]) -> None:
    """2-D embeddings (dim 2, same backbone and steps ``fig_steps``) of test digits, seen and unseen."""
    from danlu.data import load_dataset
    from danlu.plotting import subplots

    s = load_dataset("mnist5k", seed=seed, flatten=True)
    xtr, ytr = _split(s.train, True)
    x, y = s.test.tensors
    fig, axes = subplots(1, len(arms), width=3.0, height=3.0)
    for ax, name in zip(axes[0], arms, strict=True):
        model = _train(name, seed, TensorDataset(xtr, ytr), 2, b["fig_steps"], b)
        with torch.no_grad():
            e = F.normalize(model(x), dim=1) if name != "softmax" else model(x)
        for c in range(10):
            k = y == c
            ax.scatter(e[k, 0], e[k, 1], s=3, alpha=0.5, marker="o" if c < SEEN else "x", label=str(c))
        ax.set(title=name, aspect="equal")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0][-1].legend(fontsize=6, markerscale=3, loc="center left", bbox_to_anchor=(1, 0.5), title="digit")
    ctx.figure("embeddings-2d", fig, caption=f"2-D embeddings of test digits (seed {seed}, {b['fig_steps']} steps; "
                                            "margin heads shown on the unit circle): o = seen classes 0-6, "
                                            "x = unseen 7-9.")


@card(id="tr-margin", title="Angular-margin softmax and verification of unseen classes",
      claim="Angular margins (CosFace, ArcFace) give embeddings that verify unseen classes better than plain "
            "softmax (ROC AUC and TAR@FAR=1e-2).",
      source="note 003: large-margin softmax family (insightface losses)", area="tricks", rule=verdict, slow=True,
      quick={"seeds": 5, "arms": ["softmax", "cosface", "arcface"], "dim": 16, "width": 128, "steps": 400,
             "batch": 64, "lr": 1e-3, "fig_steps": 100},
      full={"seeds": 8, "arms": ["softmax", "normface", "cosface", "arcface", "sphereface", "lsoftmax"],
            "steps": 1500, "fig_steps": 600})
def tr_margin(ctx: CardContext) -> CardResult:
    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    arms = list(b["arms"])
    per_seed = [_seed(s, arms, b) for s in seeds]
    res = {a: [r[a] for r in per_seed] for a in arms}

    def gain(key: str) -> Estimate:
        return estimate([sum(res[m][i][key] - res["softmax"][i][key] for m in MARGIN_ARMS) / len(MARGIN_ARMS)
                         for i in range(len(seeds))])

    auc, tar = gain("auc"), gain("tar")
    held = verdict(auc, tar)
    per_arm = {a: estimate([res[a][i]["auc"] - res["softmax"][i]["auc"] for i in range(len(seeds))])
               for a in arms if a != "softmax"}
    _figure(ctx, [a for a in arms if a in ("softmax", *MARGIN_ARMS)], seeds[0], b)

    def mean(a: str, key: str) -> float:
        return sum(r[key] for r in res[a]) / len(res[a])

    table = [{"loss": a, "test AUC (unseen 7-9)": mean(a, "auc"), f"TAR@FAR={FAR:g}": mean(a, "tar"),
              "pair accuracy (val threshold)": mean(a, "acc"),
              "AUC gain over softmax": per_arm[a].describe(digits=3) if a in per_arm else "-"} for a in arms]
    t_auc, t_tar = auc.describe(digits=3), tar.describe(digits=3)
    reason = (f"MLP embeddings (dim {b['dim']}) trained {b['steps']} steps on digits 0-6, verified on unseen 7-9 "
              f"({PAIRS} + {PAIRS} test pairs; threshold from validation pairs): mean AUC gain of CosFace and "
              f"ArcFace over softmax {t_auc}, TAR@FAR={FAR:g} gain {t_tar} (held needs both intervals above 0).")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"AUC gain, margin - softmax": (auc, t_auc), f"TAR@FAR={FAR:g} gain": (tar, t_tar),
                               **{f"AUC gain {a}": (e, e.describe(digits=3)) for a, e in per_arm.items()}},
                      extra={"seeds": seeds, "per_seed": res})
