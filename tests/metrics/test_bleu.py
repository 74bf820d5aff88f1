"""danlu.metrics.bleu equals sacrebleu.corpus_bleu / sentence_bleu (reference: sacrebleu 2.x) to 1e-9."""

from __future__ import annotations

import math
import random

import pytest

from danlu.errors import DanluError
from danlu.metrics import bleu, sentence_bleu
from danlu.metrics.bleu_score import _tokenize_joined, d2l_sentence_bleu, tokenize_13a

sacrebleu = pytest.importorskip("sacrebleu")

def words(text: str) -> list[str]:
    """Whitespace tokens (a helper: the word lists read better as text)."""
    return text.split()


WORDS = words("the a cat dog sat on mat , . ! ? 's don't 1,000 3.5 U.S. e-mail &amp; &quot;hi&quot; New York 2-3 "
         "x-ray (note) $5 50% \"quoted\" end. Über café")


def corpus(seed: int, n: int, vocab: int = 40, max_len: int = 25, p_none: float = 0.0):
    """Real-looking sentences (punctuation, numbers, entities) and a second, partly missing, reference stream."""
    rng = random.Random(seed)
    words = list(WORDS) + [f"w{i}" for i in range(vocab)]

    def sent(base=None):
        if base is not None and rng.random() < 0.7:  # a corrupted copy: realistic overlap
            toks = base.split()
            return " ".join(t if rng.random() < 0.7 else rng.choice(words) for t in toks[: rng.randint(0, len(toks))])
        return " ".join(rng.choice(words) for _ in range(rng.randint(0, max_len)))

    refs = [sent() for _ in range(n)]
    hyps = [sent(r) for r in refs]
    refs2 = [None if rng.random() < p_none else sent(r) for r in refs]
    return hyps, [refs, refs2]


@pytest.mark.parametrize("smooth", ["none", "floor", "add-k", "exp"])
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.parametrize("effective", [False, True])
def test_corpus_bleu_equals_sacrebleu(smooth, lowercase, effective) -> None:
    hyps, refs = corpus(seed=hash((smooth, lowercase, effective)) % 1000, n=300, p_none=0.3)
    for tok in ("13a", "none"):
        for streams in (refs[:1], refs):
            ref = sacrebleu.corpus_bleu(hyps, streams, smooth_method=smooth, lowercase=lowercase, tokenize=tok,
                                        use_effective_order=effective)
            got = bleu(hyps, streams, smooth_method=smooth, lowercase=lowercase, tokenize=tok,
                       effective_order=effective)
            assert abs(got.score - ref.score) <= 1e-9
            assert got.sys_len == ref.sys_len and got.ref_len == ref.ref_len
            assert max(abs(a - b) for a, b in zip(got.precisions, ref.precisions, strict=True)) <= 1e-9
            assert abs(got.bp - ref.bp) <= 1e-12
            assert got.counts == ref.counts and got.totals == ref.totals


@pytest.mark.parametrize("smooth, value", [("floor", 0.3), ("add-k", 2.0)])
def test_smoothing_values(smooth, value) -> None:
    hyps, refs = corpus(seed=3, n=50, max_len=6)
    ref = sacrebleu.corpus_bleu(hyps, refs[:1], smooth_method=smooth, smooth_value=value)
    assert abs(bleu(hyps, refs[:1], smooth_method=smooth, smooth_value=value).score - ref.score) <= 1e-9


def test_random_vocab_and_perfect_match() -> None:
    hyps, refs = corpus(seed=5, n=400, vocab=5, max_len=12)
    assert abs(bleu(hyps, refs).score - sacrebleu.corpus_bleu(hyps, refs).score) <= 1e-9
    same = bleu(refs[0], refs[:1])
    assert same.score == pytest.approx(100.0) and same.bp == 1.0


def test_sentence_bleu_equals_sacrebleu() -> None:
    hyps, refs = corpus(seed=7, n=200, p_none=0.0)
    for h, r1, r2 in zip(hyps, *refs, strict=True):
        for rs in ([r1], [r1, r2]):
            for smooth in ("exp", "floor", "add-k", "none"):
                ref = sacrebleu.sentence_bleu(h, rs, smooth_method=smooth)
                assert abs(sentence_bleu(h, rs, smooth_method=smooth).score - ref.score) <= 1e-9


def test_brevity_penalty_closed_form() -> None:
    """3-token hypothesis, 6-token reference, all n-grams matched: BLEU = 100 * exp(1 - 6/3) (orders 1..3)."""
    r = bleu(["a b c"], [["a b c d e f"]], max_ngram_order=3)
    assert r.bp == pytest.approx(math.exp(-1)) and r.score == pytest.approx(100 * math.exp(-1))
    assert bleu(["a b c d e f g"], [["a b c d e f"]]).bp == 1.0  # longer than the reference: no penalty


def test_empty_lines_follow_sacrebleu() -> None:
    hyps, refs = ["", "a b c d", "x y"], [["a b", "", "x y z w"]]
    ref = sacrebleu.corpus_bleu(hyps, refs)
    got = bleu(hyps, refs)
    assert abs(got.score - ref.score) <= 1e-9 and got.sys_len == ref.sys_len and got.ref_len == ref.ref_len
    assert bleu([""], [["a"]]).score == 0.0 and bleu([""], [["a"]]).bp == 0.0


def test_tokenizer_13a_equals_sacrebleu_on_punctuation_heavy_fuzz() -> None:
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    tok = Tokenizer13a()
    rng = random.Random(1)
    pieces = list("ab1 2.,-&;<>\"'!?()/\\:{}~[]`_@#$%^*+=|\n\tÉé€") + [
        "<skipped>", "&amp;", "&quot;", "&lt;", "&gt;", "-\n", "3.5", "1,000", "..", ",,", "x-", ".5", "  "]
    lines = ["".join(rng.choice(pieces) for _ in range(rng.randint(0, 30))) for _ in range(3000)]
    for line in lines[:300]:
        assert tokenize_13a(line) == tok(line.rstrip()).split(), line
    flat, sep = _tokenize_joined(lines, False, "13a")  # the joined one-pass path used by bleu()
    expect = [t for line in lines for t in [*tok(line.rstrip()).split(), sep]][:-1]
    assert flat == expect


def test_d2l_variant_closed_form() -> None:
    """d2l: exp(min(0, 1 - len_ref/len_hyp)) * prod_n p_n^(1/2^n); here p1 = 3/4, p2 = 2/3, no penalty."""
    assert d2l_sentence_bleu(words("a b c d"), words("a b c e"), k=2) == pytest.approx(0.75 ** 0.5 * (2 / 3) ** 0.25)
    # short hypothesis: penalty exp(1 - 4/2), p1 = 1, p2 = 1
    assert d2l_sentence_bleu(words("a b"), words("a b c d"), k=2) == pytest.approx(math.exp(-1))
    r = bleu(["a b c d", "a b"], [["a b c e", "a b c d"]], kind="d2l", max_ngram_order=2)
    assert r.score == pytest.approx(100 * (0.75 ** 0.5 * (2 / 3) ** 0.25 + math.exp(-1)) / 2)
    # it is not BLEU: sacrebleu (4-gram geometric mean, corpus-pooled) gives another number
    assert abs(r.score - bleu(["a b c d", "a b"], [["a b c e", "a b c d"]]).score) > 1


@pytest.mark.parametrize("call, expect", [
    (lambda: bleu(["a", "b"], [["a"]]), "references[0] has 1 lines but there are 2 hypotheses"),
    (lambda: bleu([], [[]]), "hypotheses is empty"),
    (lambda: bleu(["a"], ["a"]), "references[0] must be a list of strings"),
    (lambda: bleu("a b", [["a b"]]), "hypotheses must be a list of strings"),
    (lambda: bleu(["a", None], [["a", "b"]]), "hypotheses[1] must be a string"),
    (lambda: bleu(["a"], [[None]]), "sentence 0 has no reference"),
    (lambda: bleu(["a"], [["a"]], smooth_method="add-1"), "smooth_method must be one of"),
    (lambda: bleu(["a"], [["a"]], tokenize="intl"), "tokenize must be one of"),
    (lambda: bleu(["a"], [["a"]], kind="nltk"), "kind must be one of"),
    (lambda: sentence_bleu("a", "a"), "references must be a list of strings"),
])
def test_bad_input_is_a_clear_error(call, expect) -> None:
    with pytest.raises(DanluError, match=expect.replace("[", r"\[").replace("]", r"\]")):
        call()
