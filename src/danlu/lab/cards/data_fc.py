"""data-fc: what the wide (crossed-column) part of wide & deep adds to a deep model that sees the same columns.

Cheng et al., "Wide & Deep Learning for Recommender Systems" (arXiv:1606.07792): a linear model over
sparse indicator and *crossed* columns memorizes feature interactions, the deep part (an MLP over
numeric columns and embeddings) generalizes, and training both jointly beats either. Here both arms
get the same raw columns (age, income, city, job) and the same deep part (numeric columns +
city/job embeddings); the wide & deep arm adds a linear model over city, job and the hashed
city x job cross. Equal data, epochs, batch, seeds; each arm's learning rate is chosen the same way
(best mean validation accuracy over the same grid on the first two seeds).
"""

from __future__ import annotations

import torch
from torch import nn

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, Estimate, decide
from danlu.lab.threads import one_thread

MARGIN = 0.01  # accuracy points (as a fraction) the wide part must add


def data_fc_rule(gain: Estimate, deep_acc: float, base_rate: float) -> Decision:
    """Held when adding the wide part (linear over city, job and the crossed city x job column) to the
    deep model raises test accuracy by more than 0.01 (1 point): the 95% interval of the paired gain
    (wide & deep minus deep, same seed, data and budget) lies above 0.01. The margin is about 1.5
    binomial standard errors of one test accuracy on 3000 rows (sqrt(0.85 * 0.15 / 3000) = 0.0065),
    so a gain below it is within what a different test sample could show. Not held when the interval
    lies below 0.01. Inconclusive when it straddles 0.01, or when the deep baseline did not learn
    (mean test accuracy within 0.05 of always predicting the majority class, `base_rate`): a
    baseline that never trains measures nothing.
    """
    if deep_acc < base_rate + 0.05:
        return None
    return decide(gain, MARGIN)


def make_tabular(n: int, seed: int, split: int = 0):
    """Synthetic click data whose label depends on numbers AND on a city x job interaction.

    logit = 1.2 * z(age) - 0.8 * z(income) + a[city] + 2.5 * B[city, job]; B is a random +-1 table,
    so the interaction can only be learned by a model that sees both categories together.
    ``split`` (0 train, 1 validation, 2 test) draws an independent sample of the same task.
    Returns (columns dict, labels (n,), Bayes-optimal probabilities (n,)).
    """
    import numpy as np

    rng = np.random.default_rng([seed, split])
    table_rng = np.random.default_rng(12345)  # the task (not the sample) is fixed
    cities, jobs = [f"city{i}" for i in range(12)], [f"job{j}" for j in range(8)]
    a = table_rng.normal(0, 0.5, len(cities))
    B = table_rng.choice([-1.0, 1.0], size=(len(cities), len(jobs)))
    ci, ji = rng.integers(0, len(cities), n), rng.integers(0, len(jobs), n)
    age, income = rng.normal(40, 12, n), rng.lognormal(10, 0.5, n)
    za, zi = (age - 40) / 12, (np.log(income) - 10) / 0.5
    logit = 1.2 * za - 0.8 * zi + a[ci] + 2.5 * B[ci, ji]
    p = 1 / (1 + np.exp(-logit))
    y = (rng.random(n) < p).astype(np.float32)
    cols = {"age": age, "income": np.log(income), "city": [cities[i] for i in ci], "job": [jobs[j] for j in ji]}
    return cols, y, p


class WideDeep(nn.Module):
    """Wide & Deep (Cheng et al., arXiv:1606.07792): logit = MLP(deep columns) + linear(wide columns).

    ``wide_cols=[]`` leaves the deep part alone. The wide columns have no trainable state (indicators),
    so their (N, D_wide) output is computed once per dataset with :meth:`wide_features` and passed to
    ``forward``. Call ``adapt(data)`` before training.
    """

    def __init__(self, wide_cols: list, deep_cols: list, hidden: int) -> None:
        super().__init__()
        from danlu.data.features import FeatureSet

        self.wide = FeatureSet(wide_cols) if wide_cols else None
        self.deep = FeatureSet(deep_cols)
        self.hidden = hidden

    def adapt(self, data) -> None:
        if self.wide is not None:
            self.wide.adapt(data)
        self.deep.adapt(data)
        self.lin = nn.Linear(self.wide.output_dim, 1) if self.wide is not None else None
        h = self.hidden
        self.mlp = nn.Sequential(nn.Linear(self.deep.output_dim, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(),
                                 nn.Linear(h, 1))

    def wide_features(self, data) -> torch.Tensor | None:
        """(N, D_wide) indicator features of ``data`` (None without a wide part)."""
        if self.wide is None:
            return None
        with torch.no_grad():
            return self.wide(data)

    def forward(self, data, wide_x: torch.Tensor | None = None) -> torch.Tensor:
        out = self.mlp(self.deep(data))[:, 0]  # (N,)
        if self.lin is not None:
            out = out + self.lin(wide_x if wide_x is not None else self.wide(data))[:, 0]  # (N,)
        return out


def _batch(cols, idx):
    import numpy as np

    return {k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx]) for k, v in cols.items()}


def _build(arm: str, hidden: int) -> WideDeep:
    from danlu.data.features import Crossed, Embedding, Indicator, Numeric, Vocabulary

    deep = [Numeric("age", normalize=True), Numeric("income", normalize=True),
            Embedding(Vocabulary("city"), dim=4), Embedding(Vocabulary("job"), dim=4)]
    wide = [Indicator(Vocabulary("city")), Indicator(Vocabulary("job")),
            Indicator(Crossed(["city", "job"], num_bins=256), "count")] if arm == "wide & deep" else []
    return WideDeep(wide, deep, hidden)


class _Rows(nn.Module):
    """Row indices (B,) -> logits (B,) of ``model`` on those rows of the columns ``cols`` (a dict).

    danlu's training engine batches tensors; the wide & deep model reads a dict of columns, so the
    engine batches row numbers and this wrapper looks the rows up (and their precomputed wide features).
    """

    def __init__(self, model: WideDeep, cols: dict, wide_x: torch.Tensor | None) -> None:
        super().__init__()
        self.model, self.cols, self.wide_x = model, cols, wide_x

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        rows = idx.cpu().numpy()
        return self.model(_batch(self.cols, rows), None if self.wide_x is None else self.wide_x[idx])  # (B,)


def _train(arm: str, data: dict, seed: int, lr: float, b: dict, evals: dict) -> dict[str, list[float]]:
    """Train one arm with Adam for ``epochs`` epochs of full batches (the remainder of each seeded
    permutation is dropped) on danlu's training engine (:func:`danlu.train.fit`, the classification
    task with a logistic loss); returns the accuracy per epoch on each of ``evals`` ({name: (cols, y)})."""
    from torch.utils.data import TensorDataset

    from danlu.train import fit
    from danlu.train.config import LoopConfig
    from danlu.train.tasks.classification import Classification

    train, ytr = data
    torch.manual_seed(seed)
    m = _build(arm, b["hidden"])
    m.adapt(train)
    wtr = m.wide_features(train)
    wev = {k: m.wide_features(c) for k, (c, _) in evals.items()}
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    n = len(ytr)
    acc: dict[str, list[float]] = {k: [] for k in evals}

    def evaluate(event: str, engine) -> None:
        if event != "epoch":
            return
        m.eval()
        with torch.no_grad():
            for k, (cols, y) in evals.items():
                acc[k].append(float(((m(cols, wev[k]).numpy() > 0) == (y > 0.5)).mean()))

    fit(Classification(loss_fn=torch.nn.functional.binary_cross_entropy_with_logits), _Rows(m, train, wtr),
        TensorDataset(torch.arange(n), torch.as_tensor(ytr)), steps=b["epochs"] * max(n // b["batch"], 1),
        seed=seed, batch_size=b["batch"], optimizer=opt, loop=LoopConfig(nan_guard=False), callbacks=[evaluate])
    return acc


ARMS = ("deep (embeddings)", "wide & deep")


@card(
    id="data-fc",
    title="Feature columns: what the wide crossed part of wide & deep adds over deep alone",
    claim=("On tabular data whose label depends on a city x job interaction, adding the wide part (a linear model "
           "over categorical and crossed columns) to a deep model that sees the same columns raises test accuracy "
           "by at least 1 point at the same training budget."),
    source="note: tf.feature_column / Keras preprocessing layers (wide & deep; Cheng et al. arXiv:1606.07792)",
    area="data",
    quick={"n_train": 6000, "n_val": 2000, "n_test": 3000, "epochs": 6, "batch": 256, "hidden": 32,
           "lrs": [0.01, 0.03, 0.1], "select_seeds": 2, "seeds": 6},
    full={"n_train": 40000, "n_val": 10000, "n_test": 10000, "epochs": 15, "seeds": 10},
    slow=True,  # 18 short trainings: 7-13 s on one thread here
    rule=data_fc_rule,
)
def data_fc(ctx: CardContext) -> CardResult:
    with one_thread(ctx.device):  # small MLPs: a second thread only adds waiting (see one_thread)
        return _data_fc(ctx)


def _data_fc(ctx: CardContext) -> CardResult:
    import numpy as np

    from danlu.lab.evidence import estimate, paired, seeds_for
    from danlu.plotting import subplots

    b = ctx.budget
    seeds = seeds_for(ctx.seed, int(b["seeds"]))
    sets = {s: {"train": make_tabular(b["n_train"], s, 0), "val": make_tabular(b["n_val"], s, 1),
                "test": make_tabular(b["n_test"], s, 2)} for s in seeds}
    # 1. learning rate per arm: best mean final validation accuracy over the same grid on the first
    #    `select_seeds` seeds (one seed's validation is too noisy to pick between neighbouring rates)
    sel = seeds[:int(b["select_seeds"])]
    lr_rows, chosen, curves = [], {}, {}
    for arm in ARMS:
        runs = {(lr, s): _train(arm, sets[s]["train"][:2], s, lr, b, {"val": sets[s]["val"][:2],
                                                                        "test": sets[s]["test"][:2]})
                for lr in b["lrs"] for s in sel}
        val = {lr: float(np.mean([runs[(lr, s)]["val"][-1] for s in sel])) for lr in b["lrs"]}
        chosen[arm] = max(val, key=val.get)
        curves[arm] = [runs[(chosen[arm], s)]["test"] for s in sel]
        lr_rows += [{"arm": arm, "lr": lr, "val accuracy": v, "chosen": lr == chosen[arm]} for lr, v in val.items()]
    # 2. the other seeds at the chosen learning rates
    for s in seeds[len(sel):]:
        for arm in ARMS:
            curves[arm].append(_train(arm, sets[s]["train"][:2], s, chosen[arm], b,
                                      {"test": sets[s]["test"][:2]})["test"])
    final = {arm: [c[-1] for c in curves[arm]] for arm in ARMS}
    gain = paired(final["wide & deep"], final["deep (embeddings)"])
    bayes = [float(((sets[s]["test"][2] > 0.5) == (sets[s]["test"][1] > 0.5)).mean()) for s in seeds]
    base = float(np.mean([max(sets[s]["test"][1].mean(), 1 - sets[s]["test"][1].mean()) for s in seeds]))
    deep_acc = float(np.mean(final["deep (embeddings)"]))
    held = data_fc_rule(gain, deep_acc, base)

    table = []
    for arm in ARMS:
        e = estimate(final[arm])
        table.append({"model": arm, "lr (chosen on validation)": chosen[arm], "seeds": e.n,
                      "test accuracy": e.mean, "95% CI": f"{e.lo:.4f} .. {e.hi:.4f}",
                      "per seed": " ".join(f"{a:.3f}" for a in final[arm])})
    table.append({"model": "Bayes-optimal (true probabilities)", "seeds": len(seeds), "test accuracy": float(np.mean(bayes))})
    table.append({"model": "majority class", "seeds": len(seeds), "test accuracy": base})
    table += [{"model": f"lr search ({len(sel)} seeds): {r['arm']}", "lr (chosen on validation)": r["lr"],
               "val accuracy": r["val accuracy"], "chosen": r["chosen"]} for r in lr_rows]

    fig, axes = subplots(1, 2, width=4.4, height=3.4)
    ax = axes[0, 0]
    for arm, color in zip(ARMS, ("tab:orange", "tab:blue")):
        c = np.array(curves[arm])  # (seeds, epochs)
        ep = np.arange(1, c.shape[1] + 1)
        ax.plot(ep, c.mean(0), marker="o", color=color, label=f"{arm}, lr {chosen[arm]:g}")
        ax.fill_between(ep, c.min(0), c.max(0), color=color, alpha=0.15)
    ax.axhline(float(np.mean(bayes)), color="k", ls="--", lw=1, label="Bayes-optimal")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=f"mean (band: min-max) of {len(seeds)} seeds")
    ax.legend(fontsize=7, loc="lower right")
    ax = axes[0, 1]
    g = np.array(final["wide & deep"]) - np.array(final["deep (embeddings)"])
    ax.plot(range(len(seeds)), 100 * g, "o", color="tab:blue", label="per seed")
    ax.axhspan(100 * gain.lo, 100 * gain.hi, color="tab:blue", alpha=0.15, label="mean, 95% CI")
    ax.axhline(100 * MARGIN, color="k", ls=":", lw=1, label=f"margin {100 * MARGIN:g} point")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xticks(range(len(seeds)), [str(s) for s in seeds])
    ax.set(xlabel="seed", ylabel="wide & deep - deep (accuracy points)", title="gain of the wide part")
    ax.legend(fontsize=7)
    ctx.figure("accuracy", fig, caption="Left: test accuracy per epoch for both arms (same columns, data, budget; "
               "learning rate chosen on validation for each). Right: the paired gain per seed with its interval.")
    text = gain.scaled(100).describe(unit=" points", what="seeds")
    reason = (f"with the same columns, data and budget, wide & deep reached {np.mean(final['wide & deep']):.4f} test "
              f"accuracy vs {deep_acc:.4f} for deep alone (learning rates {chosen['wide & deep']:g} and "
              f"{chosen['deep (embeddings)']:g}, chosen on validation); gain {text}; held needs more than "
              f"{100 * MARGIN:g} point. Bayes-optimal accuracy {np.mean(bayes):.4f}.")
    return CardResult(table=table, held=held, reason=reason, effects={"accuracy gain of the wide part": (gain.scaled(100), text)},
                      extra={"curves": curves, "chosen_lr": chosen},
                      notes=("The deep arm sees city and job through 4-d embeddings and can learn their interaction; "
                             "the wide arm adds a linear model over the hashed city x job cross (256 bins), which "
                             "memorizes it directly. Earlier versions compared against a numeric-only model that "
                             "never saw city or job, which made the gain certain by construction."))
