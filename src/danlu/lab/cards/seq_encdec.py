"""seq-encdec: attention's advantage over the plain seq2seq grows with input length (notes 001/003).

Sutskever et al. arXiv:1409.3215 / Cho et al. arXiv:1406.1078 (the plain GRU encoder-decoder, whose
decoder sees the source only through one fixed-size vector) vs Bahdanau et al. arXiv:1409.0473
(the decoder attends to every encoder state). Their figure 2: the plain model's BLEU falls with
sentence length, the attention model's much less.

Comparison: the same GRU sizes (embedding 16, hidden 32), data, data order, Adam learning rate and
number of steps for both, trained through ``danlu.train.fit`` with the ``seq2seq`` task on sequence
reversal (8 symbols, lengths 2..9, a task whose every output token depends on a different input
position). Held-out sentences (another generator seed) are decoded greedily and scored per length
bucket (2-3, 4-5, 6-7, 8-9 tokens): exact match and BLEU (orders 1-2, since short buckets have no
4-grams). Per seed, the slope of (attention - plain) exact match against the bucket's mean length
is fitted by least squares (points per token); the verdict is :func:`verdict` on its interval over
seeds. Margin 0: the claim is the sign of the slope (the gap *grows*). Precondition: the attention
model learned the task (mean exact match on the shortest bucket >= 50%), else inconclusive.
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import TensorDataset

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate, decide, estimate, seeds_for

LEARNED = 50.0  # attention's exact match (%) on the shortest bucket needed for a verdict
BUCKETS = [(2, 3), (4, 5), (6, 7), (8, 9)]


def verdict(gap_slope: Estimate, attention_short_exact: float) -> bool | None:
    """Precondition: the attention model learned the task: its mean exact match on the shortest
    length bucket is at least 50% (otherwise inconclusive). Held when the 95% t interval over seeds
    of the slope of (attention - plain) exact match against input length (points per token) lies
    wholly above 0; not held when it lies wholly below 0; inconclusive when it straddles 0.
    """
    if attention_short_exact < LEARNED:
        return None
    return decide(gap_slope, 0.0)


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _one(b: dict[str, Any], seed: int, attention: bool, train, test) -> tuple[dict[str, Any], torch.nn.Module]:
    from danlu.metrics import bleu
    from danlu.seq.decode import greedy_decode, strip
    from danlu.seq.encdec import seq2seq_gru
    from danlu.train import fit

    torch.manual_seed(seed)
    model = seq2seq_gru(len(train.vocab), b["embed"], b["hidden"], attention=attention)
    fit("seq2seq", model, TensorDataset(train.src, train.tgt), steps=b["steps"], seed=seed, batch_size=b["batch"],
        optimizer=torch.optim.Adam(model.parameters(), lr=b["lr"]))
    model.eval()
    out = greedy_decode(model, test.src, test.src_len, max_len=test.tgt.shape[1])
    hyp, ref = strip(out.tokens), strip(test.tgt[:, 1:])
    length = (test.src_len - 1).tolist()
    res: dict[str, Any] = {"exact": [], "bleu": []}
    for lo, hi in BUCKETS:
        idx = [i for i, n in enumerate(length) if lo <= n <= hi]
        res["exact"].append(100.0 * sum(hyp[i] == ref[i] for i in idx) / len(idx))
        res["bleu"].append(bleu([" ".join(map(str, hyp[i])) for i in idx], [[" ".join(map(str, ref[i])) for i in idx]],
                                tokenize="none", max_ngram_order=2).score)
    return res, model


@card(id="seq-encdec", title="Attention helps more on longer inputs",
      claim="The advantage of a Bahdanau-attention decoder over the plain seq2seq decoder grows with input length.",
      source="notes 001/003: encoder-decoder, seq2seq, Bahdanau attention", area="seq", rule=verdict, slow=True,
      quick={"seeds": 3, "steps": 150, "hidden": 32, "embed": 16, "batch": 64, "lr": 0.01, "n_train": 3000,
             "n_test": 600, "symbols": 8},
      full={"seeds": 6, "steps": 600, "n_test": 2000})
def seq_encdec(ctx: CardContext) -> CardResult:
    from danlu.seq.data import encode_pairs, symbol_pairs

    b = ctx.budget
    seeds = seeds_for(ctx.seed, b["seeds"])
    lo, hi = BUCKETS[0][0], BUCKETS[-1][1]
    train = encode_pairs(symbol_pairs("reverse", b["n_train"], seed=ctx.seed, min_len=lo, max_len=hi,
                                      symbols=b["symbols"]))
    test = encode_pairs(symbol_pairs("reverse", b["n_test"], seed=ctx.seed + 10_000, min_len=lo, max_len=hi,
                                     symbols=b["symbols"]), vocab=train.vocab)
    runs: dict[str, list[dict[str, Any]]] = {"plain": [], "attention": []}
    model = None
    for s in seeds:
        for name in runs:
            r, m = _one(b, s, name == "attention", train, test)
            runs[name].append(r)
            model = m if name == "attention" else model
    mid = [(a + z) / 2 for a, z in BUCKETS]
    slopes = [_slope(mid, [a - p for a, p in zip(ra["exact"], rp["exact"], strict=True)])
              for ra, rp in zip(runs["attention"], runs["plain"], strict=True)]
    slope = estimate(slopes)
    short = sum(r["exact"][0] for r in runs["attention"]) / len(seeds)
    held = verdict(slope, short)
    mean = lambda name, key, k: sum(r[key][k] for r in runs[name]) / len(seeds)  # noqa: E731
    table = [{"length": f"{a}-{z}", **{f"{n} exact (%)": mean(n, "exact", k) for n in runs},
              **{f"{n} BLEU-2": mean(n, "bleu", k) for n in runs},
              "gap (exact, points)": mean("attention", "exact", k) - mean("plain", "exact", k)}
             for k, (a, z) in enumerate(BUCKETS)]
    _figures(ctx, runs, model, test, train.vocab)
    t_slope = slope.describe(unit=" points/token", what="seeds", digits=1)
    reason = (f"Reversal of {lo}-{hi} symbols, {b['steps']} Adam steps each, {len(seeds)} seeds: exact match "
              f"(attention vs plain) {table[0]['attention exact (%)']:.0f}% vs {table[0]['plain exact (%)']:.0f}% on "
              f"{lo}-{BUCKETS[0][1]} tokens, {table[-1]['attention exact (%)']:.0f}% vs "
              f"{table[-1]['plain exact (%)']:.0f}% on {BUCKETS[-1][0]}-{hi}; slope of the gap {t_slope} "
              f"(held needs above 0; attention's short-bucket exact match {short:.0f}%, needs >= {LEARNED:g}%).")
    return CardResult(table=table, held=held, reason=reason,
                      effects={"slope of the exact-match gap vs length": (slope, t_slope)},
                      extra={"seeds": seeds, "runs": runs})


def _figures(ctx: CardContext, runs, model, test, vocab) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 2, width=4.2)
    ax = axes[0][0]
    mid = [(a + z) / 2 for a, z in BUCKETS]
    for name, style in (("plain", "o-"), ("attention", "s-")):
        for k, r in enumerate(runs[name]):
            ax.plot(mid, r["exact"], style, color="tab:blue" if name == "plain" else "tab:red", alpha=0.6,
                    label=name if k == 0 else None)
    ax.set(xlabel="input length (tokens)", ylabel="held-out exact match (%)", title="Reversal by length (per seed)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    i = int(torch.nonzero(test.src_len - 1 >= BUCKETS[-1][0])[0, 0])
    n_src, n_tgt = int(test.src_len[i]), int(test.tgt_len[i])
    with torch.no_grad():
        model(test.src[i:i + 1, :n_src], test.src_len[i:i + 1], test.tgt[i:i + 1, :n_tgt - 1])
    w = model.decoder.attention_weights[0].numpy()                              # (T, S)
    ax.imshow(w, cmap="Reds", aspect="auto")
    ax.set_xticks(range(n_src), vocab.decode(test.src[i, :n_src], strip=False), rotation=90, fontsize=7)
    ax.set_yticks(range(n_tgt - 1), vocab.decode(test.tgt[i, 1:n_tgt], strip=False), fontsize=7)
    ax.set(xlabel="source token", ylabel="output token", title="Bahdanau attention weights")
    ctx.figure("length", fig, caption="Left: exact match per length bucket (each line a seed). Right: the attention "
                                      "weights of one held-out reversal: the anti-diagonal is the alignment.")
