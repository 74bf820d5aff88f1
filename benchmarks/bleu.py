"""Corpus BLEU speed: danlu.metrics.bleu (one-pass tokenization, vectorised n-gram counts) vs sacrebleu.

Target (issue 13): corpus BLEU of 100k sentence pairs at least 3x faster than sacrebleu.corpus_bleu,
with equal scores. Both get the same Python lists of strings (the path a user takes after reading
the files); sacrebleu's tokenizer caches are cleared before its run, so neither reuses earlier work.
Sentences are "real-looking": a Zipf-distributed vocabulary with punctuation, numbers and
entities, and hypotheses that are noisy copies of their references (BLEU around 30-50).

    OMP_NUM_THREADS=1 python benchmarks/bleu.py [--pairs 100000] [--refs 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import random
import time


def words(text: str) -> list[str]:
    """Whitespace tokens (a helper: the word lists read better as text)."""
    return text.split()


WORDS = words("the of and to in a is that for it was on with as he be at by this had not are but from or have an "
         "they which one you were her all she there would their we him been has when who will more no if out "
         "so said what up its about into than them can only other new some could time these two may then do "
         "first any my now such like our over man me even most made after also did many before must through "
         "back years where much your way well down should because each just those people mr how too little "
         "state good very make world still own see men work long get here between both life being under never "
         "day same another know while last might us great old year off come since against go came right used "
         "take three")
PUNCT = [",", ".", "!", "?", ";", ":", "'s", "n't", "(", ")", '"', "-", "$3.50", "1,000", "U.S.", "e-mail"]


def corpus(n: int, refs: int, seed: int = 0) -> tuple[list[str], list[list[str]]]:
    rng = random.Random(seed)
    vocab = WORDS + [f"Name{i}" for i in range(2000)] + PUNCT
    weights = [1.0 / (i + 1) for i in range(len(vocab))]

    def sentence() -> list[str]:
        return rng.choices(vocab, weights, k=rng.randint(5, 45))

    def noisy(tokens: list[str]) -> str:
        out = [t if rng.random() < 0.75 else rng.choice(vocab) for t in tokens if rng.random() < 0.93]
        return " ".join(out).replace(" ,", ",").replace(" .", ".")

    base = [sentence() for _ in range(n)]
    return [noisy(b) for b in base], [[noisy(b) for b in base] for _ in range(refs)]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--pairs", type=int, default=100_000)
    p.add_argument("--refs", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args()
    import sacrebleu
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    from sacrebleu.tokenizers.tokenizer_re import TokenizerRegexp

    from danlu.metrics import bleu

    hyps, refs = corpus(args.pairs, args.refs)
    t_d = t_s = float("inf")
    for _ in range(args.repeat):  # interleaved, best of N: the machine is shared
        Tokenizer13a.__call__.cache_clear()
        TokenizerRegexp.__call__.cache_clear()
        t0 = time.perf_counter()
        ref = sacrebleu.corpus_bleu(hyps, refs)
        t_s = min(t_s, time.perf_counter() - t0)
        t0 = time.perf_counter()
        got = bleu(hyps, refs)
        t_d = min(t_d, time.perf_counter() - t0)
    diff = abs(got.score - ref.score)
    print(f"{'pairs':>7} {'refs':>4} {'danlu s':>8} {'sacrebleu s':>11} {'sacrebleu/danlu':>15} {'BLEU':>7} {'|diff|':>8}")
    print(f"{args.pairs:>7} {args.refs:>4} {t_d:>8.2f} {t_s:>11.2f} {t_s / t_d:>15.2f} {got.score:>7.3f} {diff:>8.1e}")
    if diff > 1e-9:
        raise SystemExit(f"scores differ: danlu {got.score} vs sacrebleu {ref.score}")


if __name__ == "__main__":
    main()
