"""seq-bleu: danlu's BLEU equals sacrebleu; the brevity penalty; why d2l's variant differs (notes 001/003).

Papineni et al., ACL 2002 (BLEU); Post, arXiv:1804.08771 (sacrebleu, the reference). Comparison:
on a generated corpus of "real-looking" sentences (punctuation, numbers, entities; hypotheses are
noisy copies of one or two references), :func:`danlu.metrics.bleu` against ``sacrebleu.corpus_bleu``
for every smoothing method, lowercasing on/off and one/two reference streams; the largest absolute
score difference decides. Not trained, deterministic: no seeds, no interval (an exact comparison).

Shown beside it: BLEU of perfect-prefix hypotheses (the first fraction of each reference) against
the closed form ``100 · exp(1 - r/c)`` (only the brevity penalty can lower a perfect prefix's
precisions ... up to the n-grams lost at the cut), and d2l's simplified BLEU on the same corpus:
per-sentence, weights 1/2^n instead of a geometric mean, no corpus pooling, so it gives another
number (the table lists both).
"""

from __future__ import annotations

import math
import random
from typing import Any

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Estimate

TOL = 1e-9  # the tolerance on the score


def verdict(max_abs_diff: float, bp_abs_err: float) -> bool | None:
    """Held when the largest |danlu - sacrebleu| corpus BLEU difference over all compared settings
    (4 smoothing methods x lowercase on/off x 1 or 2 reference streams) is at most 1e-9 AND the
    measured brevity penalty of shortened hypotheses equals exp(1 - r/c) to 1e-9; not held
    otherwise (an exact comparison: no interval, never inconclusive).
    """
    return max_abs_diff <= TOL and bp_abs_err <= TOL


WORDS = ["the", "a", "cat", "sat", "on", "mat", ",", ".", "!", "?", "'s", "n't", "1,000", "3.5", "U.S.", "e-mail",
         "(note)", "$5", "50%", "New", "York", "x-ray", "&amp;", "Über", "café"] + [f"w{i}" for i in range(60)]


def corpus(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    base = [[rng.choice(WORDS) for _ in range(rng.randint(3, 30))] for _ in range(n)]

    def noisy(toks: list[str]) -> str:
        return " ".join(t if rng.random() < 0.75 else rng.choice(WORDS) for t in toks if rng.random() < 0.92)

    return [noisy(b) for b in base], [[noisy(b) for b in base], [noisy(b) for b in base]]


@card(id="seq-bleu", title="BLEU equals sacrebleu",
      claim="danlu.metrics.bleu equals sacrebleu's corpus BLEU (13a, smoothing, multiple references, lowercase).",
      source="notes 001/003: seq2seq evaluation (BLEU)", area="seq", rule=verdict,
      quick={"n": 600}, full={"n": 20000})
def seq_bleu(ctx: CardContext) -> CardResult:
    import sacrebleu

    from danlu.metrics import bleu

    hyps, refs = corpus(ctx.budget["n"], ctx.seed)
    rows: list[dict[str, Any]] = []
    worst = 0.0
    for smooth in ("none", "floor", "add-k", "exp"):
        for lowercase in (False, True):
            for k in (1, 2):
                a = sacrebleu.corpus_bleu(hyps, refs[:k], smooth_method=smooth, lowercase=lowercase)
                b = bleu(hyps, refs[:k], smooth_method=smooth, lowercase=lowercase)
                worst = max(worst, abs(a.score - b.score))
                rows.append({"smoothing": smooth, "lowercase": lowercase, "references": k, "sacrebleu": a.score,
                             "danlu": b.score, "|diff|": abs(a.score - b.score)})
    # brevity penalty: perfect prefixes of the first reference at several lengths
    fractions = [0.3, 0.5, 0.7, 0.85, 1.0]
    bp_rows, bp_err = [], 0.0
    toks = [r.split() for r in refs[0]]
    for f in fractions:
        short = [" ".join(t[:max(1, math.ceil(f * len(t)))]) for t in toks]
        res = bleu(short, refs[:1], tokenize="none")
        closed = 1.0 if res.sys_len >= res.ref_len else math.exp(1 - res.ref_len / res.sys_len)
        bp_err = max(bp_err, abs(res.bp - closed))
        bp_rows.append({"fraction kept": f, "c/r": res.sys_len / res.ref_len, "bp": res.bp, "exp(1-r/c)": closed,
                        "BLEU": res.score, "unigram precision": res.precisions[0]})
    d2l = bleu(hyps, refs[:1], kind="d2l", max_ngram_order=2).score
    sb = bleu(hyps, refs[:1]).score
    _figure(ctx, bp_rows)
    held = verdict(worst, bp_err)
    reason = (f"{len(hyps)} sentences, {len(rows)} settings: largest |danlu - sacrebleu| = {worst:.1e} (held needs "
              f"<= {TOL:g}); brevity penalty = exp(1 - r/c) to {bp_err:.1e}. d2l's variant (k=2) gives {d2l:.2f} "
              f"where BLEU gives {sb:.2f} on the same corpus: per-sentence, weights 1/2^n, no corpus pooling.")
    table = rows + [{"smoothing": "(d2l kind, k=2)", "lowercase": False, "references": 1, "sacrebleu": sb,
                     "danlu": d2l, "|diff|": abs(d2l - sb)}]
    return CardResult(table=table, held=held, reason=reason,
                      effects={"max |danlu - sacrebleu|": (Estimate(worst, worst, worst, 1, method="given"),
                                                           f"{worst:.1e} (exact comparison, {len(rows)} settings)")},
                      extra={"brevity": bp_rows, "d2l": d2l, "bleu": sb})


def _figure(ctx: CardContext, bp_rows: list[dict[str, Any]]) -> None:
    from danlu.plotting import subplots

    fig, axes = subplots(1, 1, width=4.5)
    ax = axes[0][0]
    ratio = [r["c/r"] for r in bp_rows]
    ax.plot(ratio, [100 * r["bp"] for r in bp_rows], "o-", label="100 x brevity penalty")
    ax.plot(ratio, [r["BLEU"] for r in bp_rows], "s-", label="BLEU of perfect prefixes")
    ax.plot(ratio, [r["unigram precision"] for r in bp_rows], "^:", label="unigram precision")
    ax.set(xlabel="hypothesis / reference length (c/r)", ylabel="percent", title="Brevity penalty")
    ax.legend(fontsize=7)
    ctx.figure("brevity", fig, caption="Hypotheses that are perfect prefixes of the reference keep ~100% unigram "
                                       "precision; the brevity penalty exp(1 - r/c) is what lowers their BLEU.")
