"""seq-transformer: a Transformer built from danlu.attention trains on the seq2seq task to the
GRU + Bahdanau-attention model's quality or better, at equal training time (notes 001/003).

Vaswani et al. arXiv:1706.03762 (the Transformer; here :class:`danlu.seq.transformer.Seq2SeqTransformer`,
equal to torch.nn.Transformer with the same weights) vs Bahdanau et al. arXiv:1409.0473.

Comparison: the seq-encdec card's task (reversal of 2-9 symbols, 8 symbols, the same training and
held-out sentences), both arms trained through ``danlu.train.fit`` with the ``seq2seq`` task, batch
64, Adam, for the same **CPU time** (``time.process_time`` of this single-threaded process, so other
processes on a shared machine do not change the budget): each arm's seconds per step are measured
first (a 2-step warm-up call, then a timed 20-step ``fit``, whose fixed cost is included), and each
arm gets ``seconds / (seconds per step)`` steps.
Hyperparameters: GRU embedding 16, hidden 32, lr 0.01 (seq-encdec's); Transformer d_model 32,
4 heads, 2+2 pre-norm layers, feed-forward 64, no dropout, lr 0.01. Each arm's lr is the better
of {0.003, 0.01} in a 150-step pilot (training data of generator seed 0, as the quick run's, held-out
set of seed 99; init seed 0): GRU + attention 88.0% / 97.0% exact match, Transformer 81.8% / 87.8%
at lr 0.003 / 0.01. The equal-time budget gives the GRU + attention arm fewer than 150 steps.

Effect: paired (same seed) held-out exact match, Transformer - GRU+attention (points, greedy
decoding). "Its quality or better" is a non-inferiority claim with margin 5 points.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, decide, paired, seeds_for

MARGIN = 5.0  # points of exact match the Transformer may trail by


def verdict(exact_diff: Estimate) -> bool | None:
    """Held when the 95% t interval over seeds of the paired held-out exact-match difference
    (Transformer - GRU with Bahdanau attention, points, equal CPU time) lies wholly above -5 points;
    not held when it lies wholly below -5; inconclusive when it straddles -5.
    """
    return decide(exact_diff, -MARGIN)


ARMS: dict[str, dict[str, Any]] = {
    "GRU + attention": {"lr": 0.01},
    "Transformer": {"lr": 0.01},
}


def _model(name: str, vocab: int) -> torch.nn.Module:
    from danlu.seq.encdec import seq2seq_gru
    from danlu.seq.transformer import Seq2SeqTransformer

    if name == "Transformer":
        return Seq2SeqTransformer(vocab, d_model=32, nhead=4, num_encoder_layers=2, num_decoder_layers=2,
                                  dim_feedforward=64, dropout=0.0, norm_first=True)
    return seq2seq_gru(vocab, 16, 32, attention=True)


def _fit(name: str, vocab: int, data: TensorDataset, steps: int, seed: int, batch: int) -> tuple[Any, float]:
    from danlu.train import fit

    torch.manual_seed(seed)
    model = _model(name, vocab)
    t0 = time.process_time()
    fit("seq2seq", model, data, steps=steps, seed=seed, batch_size=batch,
        optimizer=torch.optim.Adam(model.parameters(), lr=ARMS[name]["lr"]))
    return model.eval(), time.process_time() - t0


def _exact(model, test) -> float:
    from danlu.seq.decode import greedy_decode, strip

    out = greedy_decode(model, test.src, test.src_len, max_len=test.tgt.shape[1])
    hyp, ref = strip(out.tokens), strip(test.tgt[:, 1:])
    return 100.0 * sum(h == r for h, r in zip(hyp, ref, strict=True)) / len(ref)


@card(id="seq-transformer", title="Transformer vs GRU + attention at equal time",
      claim="A Transformer from danlu.attention trains on the same seq2seq task to the GRU + attention model's "
            "quality or better at equal training time.",
      source="notes 001/003: Transformer encoder-decoder", area="seq", rule=verdict, slow=True,
      quick={"seeds": 3, "seconds": 1.6, "batch": 64, "n_train": 3000, "n_test": 400, "calib_steps": 20,
             "max_steps": 1000},
      full={"seeds": 6, "seconds": 10.0, "n_test": 2000, "max_steps": 5000})
def seq_transformer(ctx: CardContext) -> CardResult:
    from danlu.seq.data import encode_pairs, symbol_pairs

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    train = encode_pairs(symbol_pairs("reverse", b["n_train"], seed=ctx.seed, min_len=2, max_len=9, symbols=8))
    test = encode_pairs(symbol_pairs("reverse", b["n_test"], seed=ctx.seed + 10_000, min_len=2, max_len=9,
                                     symbols=8), vocab=train.vocab)
    data, v = TensorDataset(train.src, train.tgt), len(train.vocab)
    per_step = {}
    for name in ARMS:  # CPU seconds per step: a warm-up call (one-time costs), then a timed run
        _fit(name, v, data, 2, ctx.seed, b["batch"])
        per_step[name] = _fit(name, v, data, b["calib_steps"], ctx.seed, b["batch"])[1] / b["calib_steps"]
    steps = {name: min(max(1, round(b["seconds"] / per_step[name])), b["max_steps"]) for name in ARMS}  # cap: a guard
    res: dict[str, list[dict[str, float]]] = {name: [] for name in ARMS}
    for s in seeds:
        for name in ARMS:
            model, cpu = _fit(name, v, data, steps[name], s, b["batch"])
            res[name].append({"exact": _exact(model, test), "cpu_s": cpu,
                              "params": sum(p.numel() for p in model.parameters())})
    diff = paired([r["exact"] for r in res["Transformer"]], [r["exact"] for r in res["GRU + attention"]])
    held = verdict(diff)
    table = [{"model": name, "parameters": int(rs[0]["params"]), "lr": ARMS[name]["lr"], "steps": steps[name],
              "ms per step (CPU)": 1e3 * per_step[name], "mean training CPU s": sum(r["cpu_s"] for r in rs) / len(rs),
              "mean held-out exact match (%)": sum(r["exact"] for r in rs) / len(rs)} for name, rs in res.items()]
    t_diff = diff.describe(unit=" points", digits=1)
    reason = (f"Reversal (2-9 symbols), {b['seconds']:g} CPU s per arm: Transformer {steps['Transformer']} steps vs "
              f"GRU+attention {steps['GRU + attention']}; held-out exact match "
              f"{table[1]['mean held-out exact match (%)']:.1f}% vs {table[0]['mean held-out exact match (%)']:.1f}%, "
              f"paired difference {t_diff} (held needs above -{MARGIN:g}).")
    _figure(ctx, res, seeds)
    return CardResult(table=table, held=held, reason=reason,
                      effects={"exact match Transformer - GRU+attention (points)": (diff, t_diff)},
                      extra={"seeds": seeds, "runs": res, "steps": steps})


def _figure(ctx: CardContext, res, seeds) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 1, width=4.0)
    ax = axes[0][0]
    names = list(res)
    for k in range(len(seeds)):
        ax.plot(range(len(names)), [res[n][k]["exact"] for n in names], "o-", color="grey", alpha=0.6)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel="held-out exact match (%)", title=f"Equal CPU time, {len(seeds)} seeds")
    ctx.figure("equal_time", fig, caption="Held-out exact match of each arm at equal training CPU time "
                                          "(grey lines join the same seed).")
