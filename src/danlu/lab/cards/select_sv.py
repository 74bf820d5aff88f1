"""sel-sv: the "support vectors" of deep learning: EL2N / GraNd scores and training on a kept half (note 000).

Paul, Ganguli & Dziugaite, "Deep Learning on a Data Diet", NeurIPS 2021 (arXiv:2107.07075);
Toneva et al. 2019 (arXiv:1812.05159). Two parts, each over ``seeds`` seeds:

(a) 2-D moons (``n2d`` points, noise 0.2, drawn per seed): an MLP scorer gives EL2N and GraNd
    (both after ``score_epochs`` epochs of Adam, averaged over two scorer seeds); sklearn's SVC
    (RBF, C=1) gives the support vectors; the ``k = #SV`` top-scored points are compared with them.
    Effect: precision@k minus its exact random-subset expectation ``#SV / N``, in points.
(b) MNIST-5k (3500 training images, the 1500 validation + test images held out): EL2N from a
    scorer MLP (``score_epochs`` epochs, one scorer seed per seed), then the same MLP trained from
    the same initial weights and batch-order seed for the same number of Adam steps on: all data,
    and at each keep fraction (0.5 among them) the hardest (EL2N high), easiest and a random subset
    (the full budget adds ``stratified``: an even spread over the EL2N ranking).
    Effects: held-out accuracy of hard@0.5 minus random@0.5 (paired by seed), all data minus
    hard@0.5, and at the smallest keep fraction hard minus easy (the note's warning case, reported
    but not part of the verdict).

Margins (fixed before the first verdict run): the 2-D precision lift must exceed 10 points for
both scores; the hard half must beat the random half (interval above 0) and come within 2 accuracy
points of all data (interval wholly below 2). Equal steps mean the half-data arms see each example
twice as often; that is the paper's protocol (pruning saves steps per epoch, not epochs).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, all_of, decide, estimate, paired, seeds_for

LIFT_MARGIN = 10.0   # points of precision@k above random (part a)
CLOSE_MARGIN = 2.0   # accuracy points the hard half may trail all data by (part b)


def verdict(lift_el2n: Estimate, lift_grand: Estimate, gain_vs_random: Estimate, gap_to_all: Estimate) -> bool | None:
    """Held when (a) on 2-D moons the top-k EL2N and the top-k GraNd points are SVM (RBF) support
    vectors more often than a random k-subset by over 10 points of precision (95% t interval over
    seeds of precision@k - #SV/N wholly above +10, for each score), AND (b) on MNIST-5k at equal
    steps, training on the EL2N-hard half beats a random half (interval of the paired held-out
    accuracy difference wholly above 0) and comes within 2 points of all data (interval of all -
    hard-half wholly below 2). Not held when any interval lies wholly on the wrong side of its
    margin; inconclusive otherwise.
    """
    return all_of(decide(lift_el2n, LIFT_MARGIN), decide(lift_grand, LIFT_MARGIN), decide(gain_vs_random, 0.0),
                  decide(gap_to_all, CLOSE_MARGIN, higher_is_better=False))


def _adam(lr: float):
    return lambda model, steps: torch.optim.Adam(model.parameters(), lr=lr)


# ------------------------------------------------------------------------------------- part (a)
def _two_d(ctx: CardContext, seed: int) -> dict[str, Any]:
    from danlu.models import create_model
    from danlu.select import el2n, grand
    from danlu.select.svm import compare_with_svm, two_d_dataset

    b = ctx.budget
    data = two_d_dataset("moons", b["n2d"], noise=0.2, seed=seed)
    x, y = data.tensors

    def net():
        return create_model("mlp", in_features=2, num_classes=2, depth=2, width=32)

    kw = {"epochs": b["score_epochs"], "seeds": [1000 * seed + j for j in range(2)], "batch_size": 32,
          "optimizer": _adam(1e-2), "progress": False, "device": ctx.device}
    scores = {"EL2N": el2n(net, data, **kw), "GraNd": grand(net, data, **kw)}
    out: dict[str, Any] = {"x": x, "y": y, "scores": scores}
    for name, s in scores.items():
        for kernel in ("rbf", "linear"):
            out[f"{name}-{kernel}"] = compare_with_svm(s, x, y, kernel=kernel)
    from danlu.select.svm import support_vectors

    out["sv"] = support_vectors(x, y, kernel="rbf")
    return out


# ------------------------------------------------------------------------------------- part (b)
def _accuracy(model: torch.nn.Module, data: TensorDataset) -> float:
    model.eval()
    with torch.no_grad():
        x, y = data.tensors
        return 100 * float((model(x).argmax(1) == y).float().mean())


def _mlp(width: int, splits: Any) -> torch.nn.Module:
    from danlu.models import create_model

    return create_model("mlp", in_features=splits.train.tensors[0][0].numel(), num_classes=splits.num_classes,
                        depth=1, width=width)


def _train_arm(ctx: CardContext, seed: int, splits: Any, train: TensorDataset, held: TensorDataset) -> float:
    from danlu.train import fit

    b = ctx.budget
    torch.manual_seed(seed)
    model = _mlp(b["width"], splits)
    fit("classification", model, train, steps=b["steps"], seed=seed, batch_size=b["batch"], device=ctx.device,
        optimizer=torch.optim.Adam(model.parameters(), lr=b["lr"]))
    return _accuracy(model.cpu(), held)


def _mnist(ctx: CardContext, seed: int, splits: Any) -> dict[str, float]:
    from danlu.select import el2n, subset

    b = ctx.budget
    train = splits.train
    held = TensorDataset(torch.cat([splits.val.tensors[0], splits.test.tensors[0]]),
                         torch.cat([splits.val.tensors[1], splits.test.tensors[1]]))
    scores = el2n(lambda: _mlp(b["width"], splits), train,
                  epochs=b["score_epochs"], seeds=[1000 * seed + 7], batch_size=b["batch"], optimizer=_adam(b["lr"]),
                  progress=False, device=ctx.device)
    res = {"all": _train_arm(ctx, seed, splits, train, held)}
    for keep in sorted({*b["keeps"], 0.5}):  # the verdict compares halves
        for mode in b["modes"]:
            idx = subset(scores, keep, mode, seed=seed)
            kept = TensorDataset(*(t[idx] for t in train.tensors))
            res[f"{mode}@{keep:g}"] = _train_arm(ctx, seed, splits, kept, held)
    return res


# ------------------------------------------------------------------------------------- figures
def _figures(ctx: CardContext, two_d: dict[str, Any], mnist: list[dict[str, float]], keeps: list[float]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.2, height=3.8)
    x, y, sv = two_d["x"].numpy(), two_d["y"].numpy(), two_d["sv"].numpy()
    for ax, name in zip(axes[0], ("EL2N", "GraNd")):
        s = two_d["scores"][name].numpy()
        k = len(sv)
        top = torch.argsort(-two_d["scores"][name], stable=True)[:k].numpy()
        sc = ax.scatter(x[:, 0], x[:, 1], c=s, cmap="viridis", s=14, marker="o")
        ax.scatter(x[y == 1, 0], x[y == 1, 1], s=3, c="w", marker=".")
        ax.scatter(x[sv, 0], x[sv, 1], s=60, facecolors="none", edgecolors="r", lw=0.8, label="SVM support vectors")
        ax.scatter(x[top, 0], x[top, 1], s=10, c="k", marker="x", lw=0.7, label=f"top-{k} {name}")
        o = two_d[f"{name}-rbf"]
        ax.set(title=f"{name}: precision@k {100 * o.precision:.0f}% vs random {100 * o.random_precision:.0f}%",
               xticks=[], yticks=[])
        ax.legend(fontsize=6, loc="lower left")
        fig.colorbar(sc, ax=ax, fraction=0.04)
    ctx.figure("two-d", fig, caption="2-D moons (first seed): colour = score (white dots: class 1), red circles = "
                                     "the RBF SVM's support vectors, crosses = the top-k scored points (k = #SV).")

    fig, axes = subplots(1, 1, width=5.0)
    ax = axes[0][0]
    full = estimate([r["all"] for r in mnist])
    ax.axhline(full.mean, color="k", ls="--", lw=1, label=f"all data ({full.mean:.1f}%)")
    for i, mode in enumerate(ctx.budget["modes"]):
        ests = [estimate([r[f"{mode}@{k:g}"] for r in mnist]) for k in keeps]
        ax.errorbar([100 * k for k in keeps], [e.mean for e in ests], yerr=[e.half_width for e in ests],
                    marker="o", capsize=3, color=f"C{i}", label=f"{mode} (EL2N)" if mode != "random" else mode)
    ax.set(xlabel="kept fraction of the training split (%)", ylabel="held-out accuracy (%)",
           title=f"MNIST-5k, equal steps, {len(mnist)} seeds (95% CI)")
    ax.legend(fontsize=7)
    ctx.figure("keep", fig, caption="Held-out accuracy vs kept fraction: the hardest (EL2N high), easiest and a random "
                                    "subset, each trained for the same number of steps as all data (dashed).")


@card(id="sel-sv", title="Data selection scores and the support-vector view",
      claim="A half of the training data chosen by EL2N nearly matches all of it and beats a random half, and "
            "high-score points sit where an SVM's support vectors sit.",
      source="note 000: the support vectors in deep learning", area="select", rule=verdict, slow=True,
      quick={"seeds": 3, "n2d": 200, "score_epochs": 2, "keeps": [0.1, 0.5], "steps": 150, "batch": 64,
             "width": 64, "lr": 1e-3, "modes": ["hard", "easy", "random"], "data": "mnist5k"},
      full={"seeds": 5, "n2d": 400, "keeps": [0.1, 0.2, 0.3, 0.5, 0.7], "steps": 600, "width": 128,
            "modes": ["hard", "easy", "random", "stratified"]})
def sel_sv(ctx: CardContext) -> CardResult:
    from danlu.data import load_dataset

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    two_d = [_two_d(ctx, s) for s in seeds]
    splits = load_dataset(b["data"], seed=ctx.seed, flatten=True)
    mnist = [_mnist(ctx, s, splits) for s in seeds]
    small = min(b["keeps"])

    def lift(name: str) -> Estimate:
        return estimate([100 * (r[f"{name}-rbf"].precision - r[f"{name}-rbf"].random_precision) for r in two_d])

    l_el2n, l_grand = lift("EL2N"), lift("GraNd")
    gain = paired([r["hard@0.5"] for r in mnist], [r["random@0.5"] for r in mnist])
    gap = paired([r["all"] for r in mnist], [r["hard@0.5"] for r in mnist])
    warn = paired([r[f"hard@{small:g}"] for r in mnist], [r[f"easy@{small:g}"] for r in mnist])
    held = verdict(l_el2n, l_grand, gain, gap)
    _figures(ctx, two_d[0], mnist, sorted({*b["keeps"], 0.5}))

    table: list[dict[str, Any]] = []
    for name in ("EL2N", "GraNd"):
        for kernel in ("rbf", "linear"):
            os = [r[f"{name}-{kernel}"] for r in two_d]
            table.append({"part": "a: 2-D moons", "arm": f"top-k {name} vs {kernel} SVM",
                          "precision@k (%)": 100 * sum(o.precision for o in os) / len(os),
                          "random (%)": 100 * sum(o.random_precision for o in os) / len(os),
                          "Jaccard": sum(o.jaccard for o in os) / len(os),
                          "random Jaccard": sum(o.random_jaccard for o in os) / len(os)})
    for arm in mnist[0]:
        e = estimate([r[arm] for r in mnist])
        table.append({"part": "b: MNIST-5k", "arm": arm, "held-out acc (%)": e.mean, "± (95% CI)": e.half_width})
    t_gain, t_gap = gain.describe(unit=" points", digits=1), gap.describe(unit=" points", digits=1)
    t_l1, t_l2 = l_el2n.describe(unit=" points", digits=1), l_grand.describe(unit=" points", digits=1)
    t_warn = warn.describe(unit=" points", digits=1)
    reason = (f"(b) MNIST-5k, {b['steps']} Adam steps per arm: the EL2N-hard half beats a random half by {t_gain} "
              f"(held needs above 0) and trails all data by {t_gap} (held needs below {CLOSE_MARGIN:g}); (a) 2-D "
              f"moons: top-k precision against the RBF SVM's support vectors exceeds random by {t_l1} (EL2N) and "
              f"{t_l2} (GraNd) (held needs above {LIFT_MARGIN:g}). Warning case, keep {small:g}: hardest minus "
              f"easiest {t_warn}.")
    notes = ("Equal steps: a kept subset is revisited more often than all data. Scores come from short scorer runs "
             "(EL2N early in training, as the paper; GraNd after the same epochs, not at initialization). The paper's "
             "gains appear on CIFAR-scale data with long training; MNIST-5k with a small MLP is far smaller.")
    return CardResult(table=table, held=held, reason=reason, notes=notes,
                      effects={"hard half - random half (points)": (gain, t_gain),
                               "all data - hard half (points)": (gap, t_gap),
                               "EL2N precision@k lift over random (points)": (l_el2n, t_l1),
                               "GraNd precision@k lift over random (points)": (l_grand, t_l2),
                               f"hard - easy at keep {small:g} (points, not in the verdict)": (warn, t_warn)},
                      extra={"seeds": seeds, "mnist": mnist})
