"""BLEU equal to sacrebleu's ``corpus_bleu`` / ``sentence_bleu``, with vectorised n-gram counting.

Paper: "BLEU: a Method for Automatic Evaluation of Machine Translation" (Papineni et al., ACL 2002);
smoothing methods from "A Systematic Comparison of Smoothing Techniques for Sentence-Level BLEU"
(Chen & Cherry, WMT 2014); the reference implementation is sacrebleu (Post, arXiv:1804.08771).

    >>> from danlu.metrics import bleu
    >>> r = bleu(["the cat sat on the mat"], [["the cat sat on the mat"]])
    >>> round(r.score, 6), r.bp
    (100.0, 1.0)

Conventions (sacrebleu's):

* ``references`` is a list of reference *streams*, each aligned with ``hypotheses``
  (``[[ref1_of_sent1, ref1_of_sent2, ...], [ref2_of_sent1, ...]]``); a ``None`` entry means
  "this sentence has fewer references"; every sentence needs at least one.
* Scores, precisions are in percent (0..100); ``bp`` is the brevity penalty in [0, 1].
* Tokenizers: ``"13a"`` (mteval-v13a, the WMT default) and ``"none"`` (split on whitespace).
* Empty lines are allowed and scored as sacrebleu scores them: an empty hypothesis adds no
  n-grams (and 0 to ``sys_len``), an empty reference adds 0 to ``ref_len`` when it is the closest.

How it is fast: all lines are tokenized as one string (one regex pass instead of four per line),
tokens become integer ids, order-n n-grams become dense ids by ``np.unique`` over packed
(n-1)-gram id x token id keys, and clipped counts are sorted-key lookups of (sentence, n-gram)
keys; no Python loop per n-gram.

``kind="d2l"`` is the simplified BLEU of d2l's seq2seq chapter (one reference, whitespace tokens):
``exp(min(0, 1 - len_ref/len_hyp)) * prod_n p_n ** (1/2**n)``, averaged over sentences, times 100.
Its weights 1/2^n favour low orders and it has no corpus-level pooling, so it differs from BLEU.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from danlu.errors import DanluError

#: smoothing method -> default smoothing value (sacrebleu's ``BLEU.SMOOTH_DEFAULTS``)
SMOOTH_DEFAULTS: dict[str, float | None] = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}
KINDS = ("sacrebleu", "d2l")
TOKENIZERS = ("13a", "none")

# mteval-v13a's language-dependent rules (sacrebleu's TokenizerRegexp). The first, "space out every
# character of [{-~ [-` space-& (-+ :-@ /]", has no context, so it is a str.replace per character (the regex
# expands a template per match, and every space matches); spaces map to themselves, as runs of
# spaces do not change what the later rules match. The dash rule has a context of one character
# that a previous match cannot consume, so it is a look-behind with a literal replacement.
_SPACED = "".join(chr(c) for c in range(0x7B, 0x7F)) + "".join(chr(c) for c in range(0x5B, 0x61)) + \
    "".join(chr(c) for c in range(0x21, 0x27)) + "".join(chr(c) for c in range(0x28, 0x2C)) + \
    "".join(chr(c) for c in range(0x3A, 0x41)) + "/"
_RULES = [
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),
    (re.compile(r"(?<=[0-9])-"), " - "),
]
_SEPARATORS = ("\x00", "\x01", "\x02", "\x03", "\x04", "\x05", "\x06", "\x07", "\x08")


@dataclass
class BLEUResult:
    """A BLEU score and its sufficient statistics (sacrebleu's ``BLEUScore`` fields).

    Attributes:
        score: BLEU in percent.
        precisions: per-order precisions in percent (after smoothing), length ``max_ngram_order``.
        bp: brevity penalty.
        sys_len: total hypothesis tokens.
        ref_len: total closest-reference tokens.
        counts: matched (clipped) n-grams per order (after add-k smoothing, as sacrebleu reports them).
        totals: hypothesis n-grams per order.
    """

    score: float
    precisions: list[float]
    bp: float
    sys_len: int
    ref_len: int
    counts: list[float] = field(default_factory=list)
    totals: list[float] = field(default_factory=list)

    def as_dict(self) -> dict:
        """``{"score", "precisions", "bp", "sys_len", "ref_len"}`` (what ``danlu eval bleu`` prints)."""
        return {"score": self.score, "precisions": self.precisions, "bp": self.bp,
                "sys_len": self.sys_len, "ref_len": self.ref_len}


# ----------------------------------------------------------------------------- tokenization
def _tokenize_joined(lines: list[str], lowercase: bool, tokenize: str) -> tuple[list[str], str]:
    """All ``lines`` tokenized in one pass: (flat tokens with a separator token between lines, separator)."""
    raw = [line.rstrip() for line in lines]
    joined_raw = "".join(raw)
    sep = next((s for s in _SEPARATORS if s not in joined_raw), None)
    if sep is None:
        raise DanluError("bleu: the text contains every control character danlu uses as a line separator "
                         "(\\x00-\\x08); remove them")
    if tokenize == "none":
        text = f" {sep} ".join(raw)
        return (text.lower() if lowercase else text).split(), sep
    text = f" {sep} ".join(f" {line} " for line in raw)
    if lowercase:
        text = text.lower()
    # mteval-v13a's language-independent part, in sacrebleu's order
    text = text.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in text:
        text = text.replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
    for c in _SPACED:  # str.replace per character beats a 1:3 str.translate several times over
        if c in text:
            text = text.replace(c, f" {c} ")
    for rule, repl in _RULES:
        text = rule.sub(repl, text)
    return text.split(), sep


def tokenize_13a(line: str, lowercase: bool = False) -> list[str]:
    """One line as sacrebleu's 13a tokenizer splits it (after ``rstrip`` and optional lowercasing)."""
    return _tokenize_joined([line], lowercase, "13a")[0]


def _encode(streams: list[list[str]], lowercase: bool, tokenize: str) -> tuple[np.ndarray, np.ndarray]:
    """Token ids (T,) and line index (T,) over all streams concatenated (line g = stream s, sentence i -> s*S+i)."""
    lines = [line for stream in streams for line in stream]
    tokens, sep = _tokenize_joined(lines, lowercase, tokenize)
    vocab = {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    ids = np.fromiter(map(vocab.__getitem__, tokens), dtype=np.int64, count=len(tokens))  # (T + seps,)
    is_sep = ids == vocab.get(sep, -1)
    line = np.cumsum(is_sep)[~is_sep]                                              # (T,)
    return ids[~is_sep], line


# ----------------------------------------------------------------------------- counting
def _closest_ref_len(hyp_len: np.ndarray, ref_lens: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Per sentence, the reference length closest to the hypothesis length (ties: the shorter). (R, S) -> (S,)."""
    diff = np.abs(ref_lens - hyp_len[None])                                        # (R, S)
    key = np.where(present, diff * (ref_lens.max(initial=0) + 1) + ref_lens, np.iinfo(np.int64).max)
    return np.take_along_axis(ref_lens, key.argmin(0)[None], 0)[0]


def corpus_statistics(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *,
                      max_ngram_order: int = 4, lowercase: bool = False,
                      tokenize: str = "13a") -> tuple[list[int], list[int], int, int]:
    """Corpus BLEU's sufficient statistics: (correct per order, total per order, sys_len, ref_len).

    Counts are sacrebleu's: hypothesis n-gram counts clipped by the maximum count of that n-gram
    over the sentence's references; ``ref_len`` sums the closest reference length per sentence.
    """
    hyps, refs, present = _check(hypotheses, references, tokenize)
    s, r = len(hyps), len(refs)
    ids, line = _encode([hyps, *refs], lowercase, tokenize)                        # (T,), (T,)
    lens = np.bincount(line, minlength=s * (r + 1))                                # (S*(R+1),)
    hyp_len, ref_lens = lens[:s], lens[s:].reshape(r, s)
    is_hyp = line < s
    sent = line % s                                                                # sentence of each token
    correct, total = [], []
    gram = ids                                                                     # order-n n-gram ids at i
    valid = np.ones(len(ids), dtype=bool)
    for n in range(1, max_ngram_order + 1):
        if n > 1:  # extend the (n-1)-gram at i by the token at i+n-1 (same line only)
            m = max(len(ids) - n + 1, 0)
            valid = valid[:m] & (line[:m] == line[n - 1:])
            packed = gram[:m] * (int(ids.max(initial=0)) + 1) + ids[n - 1:]
            gram = np.zeros(m, dtype=np.int64)
            if valid.any():
                gram[valid] = np.unique(packed[valid], return_inverse=True)[1].reshape(-1)
        g = int(gram.max(initial=0)) + 1
        key = sent[:len(gram)] * g + gram                                          # (sentence, n-gram)
        hk, hc = np.unique(key[valid & is_hyp[:len(gram)]], return_counts=True)
        per_stream = [np.unique(key[valid & (line[:len(gram)] // s == k)], return_counts=True)
                      for k in range(1, r + 1)]
        if r == 1:
            rk, rc = per_stream[0]
        else:
            allk, allc = np.concatenate([k for k, _ in per_stream]), np.concatenate([c for _, c in per_stream])
            rk, inv = np.unique(allk, return_inverse=True)
            rc = np.zeros(len(rk), dtype=np.int64)
            np.maximum.at(rc, inv.reshape(-1), allc)
        pos = np.minimum(np.searchsorted(rk, hk), max(len(rk) - 1, 0))
        hit = rk[pos] == hk if len(rk) else np.zeros(len(hk), dtype=bool)
        correct.append(int(np.minimum(hc, np.where(hit, rc[pos] if len(rc) else 0, 0)).sum()))
        total.append(int(np.maximum(hyp_len - n + 1, 0).sum()))
    ref_len = int(_closest_ref_len(hyp_len, ref_lens, present).sum())
    return correct, total, int(hyp_len.sum()), ref_len


def compute_bleu(correct: Sequence[float], total: Sequence[float], sys_len: int, ref_len: int, *,
                 smooth_method: str = "exp", smooth_value: float | None = None,
                 effective_order: bool = False, max_ngram_order: int = 4) -> BLEUResult:
    """BLEU from its sufficient statistics, the same floating-point operations as sacrebleu's ``compute_bleu``.

    Smoothing (Chen & Cherry 2014): ``none``; ``floor`` (method 1: a zero count becomes
    ``smooth_value``); ``add-k`` (method 2: add ``smooth_value`` to counts and totals of orders >= 2);
    ``exp`` (method 3, NIST: the k-th zero-count order gets precision ``1 / (2^k total)``).
    ``effective_order`` averages over the orders that have hypothesis n-grams only.
    """
    if smooth_method not in SMOOTH_DEFAULTS:
        raise DanluError(f"bleu: smooth_method must be one of {list(SMOOTH_DEFAULTS)}, got {smooth_method!r}")
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth_method]
    correct, total = list(correct), list(total)
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * max_ngram_order
    if not any(correct):
        return BLEUResult(0.0, precisions, bp, sys_len, ref_len, correct, total)
    smooth_mteval, eff_order = 1.0, max_ngram_order
    for n in range(1, max_ngram_order + 1):
        if smooth_method == "add-k" and n > 1:
            correct[n - 1] += smooth_value
            total[n - 1] += smooth_value
        if total[n - 1] == 0:
            break
        if effective_order:
            eff_order = n
        if correct[n - 1] == 0:
            if smooth_method == "exp":
                smooth_mteval *= 2
                precisions[n - 1] = 100.0 / (smooth_mteval * total[n - 1])
            elif smooth_method == "floor":
                precisions[n - 1] = 100.0 * smooth_value / total[n - 1]
        else:
            precisions[n - 1] = 100.0 * correct[n - 1] / total[n - 1]
    logs = sum([math.log(p) if p != 0.0 else -9999999999 for p in precisions[:eff_order]])
    score = bp * math.exp(logs / eff_order)
    return BLEUResult(score, precisions, bp, sys_len, ref_len, correct, total)


# ----------------------------------------------------------------------------- public API
def bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *, kind: str = "sacrebleu",
         smooth_method: str = "exp", smooth_value: float | None = None, lowercase: bool = False,
         tokenize: str = "13a", max_ngram_order: int = 4, effective_order: bool = False) -> BLEUResult:
    """Corpus BLEU of ``hypotheses`` (S,) against reference streams ``references`` (R, S).

    Equal to ``sacrebleu.corpus_bleu(hypotheses, references, smooth_method=..., smooth_value=...,
    lowercase=..., tokenize=..., use_effective_order=...)`` (``kind="sacrebleu"``, the default).
    ``kind="d2l"``: d2l's simplified BLEU (see the module docstring; first reference stream only,
    ``max_ngram_order`` is d2l's ``k``; the smoothing options do not apply).
    """
    if kind not in KINDS:
        raise DanluError(f"bleu: kind must be one of {list(KINDS)}, got {kind!r}")
    if not isinstance(max_ngram_order, int) or max_ngram_order < 1:
        raise DanluError(f"bleu: max_ngram_order must be a positive integer, got {max_ngram_order!r}")
    if smooth_method not in SMOOTH_DEFAULTS:
        raise DanluError(f"bleu: smooth_method must be one of {list(SMOOTH_DEFAULTS)}, got {smooth_method!r}")
    if kind == "d2l":
        return d2l_bleu(hypotheses, references, k=max_ngram_order, lowercase=lowercase)
    correct, total, sys_len, ref_len = corpus_statistics(hypotheses, references, max_ngram_order=max_ngram_order,
                                                         lowercase=lowercase, tokenize=tokenize)
    return compute_bleu(correct, total, sys_len, ref_len, smooth_method=smooth_method, smooth_value=smooth_value,
                        effective_order=effective_order, max_ngram_order=max_ngram_order)


def sentence_bleu(hypothesis: str, references: Sequence[str], *, smooth_method: str = "exp",
                  smooth_value: float | None = None, lowercase: bool = False, tokenize: str = "13a",
                  max_ngram_order: int = 4, effective_order: bool = True) -> BLEUResult:
    """BLEU of one sentence against its references (a list of strings); equal to ``sacrebleu.sentence_bleu``
    (which defaults to ``use_effective_order=True``)."""
    if not isinstance(hypothesis, str):
        raise DanluError(f"sentence_bleu: hypothesis must be a string, got {type(hypothesis).__name__}")
    if isinstance(references, str):
        raise DanluError("sentence_bleu: references must be a list of strings, got one string "
                         "(wrap it: [reference])")
    return bleu([hypothesis], [[r] for r in references], smooth_method=smooth_method, smooth_value=smooth_value,
                lowercase=lowercase, tokenize=tokenize, max_ngram_order=max_ngram_order,
                effective_order=effective_order)


def d2l_sentence_bleu(hyp_tokens: Sequence[str], ref_tokens: Sequence[str], k: int = 2) -> float:
    """d2l's ``bleu(pred_seq, label_seq, k)`` in [0, 1]: ``exp(min(0, 1 - len_ref/len_hyp)) * prod p_n^(1/2^n)``.

    ``p_n`` = clipped order-n matches / hypothesis n-grams. Where d2l divides by zero (a hypothesis
    shorter than ``n`` tokens, or empty) the factor is 0 here, so the score is 0.
    """
    lh, lr = len(hyp_tokens), len(ref_tokens)
    if lh == 0:
        return 0.0
    score = math.exp(min(0.0, 1 - lr / lh))
    for n in range(1, k + 1):
        if lh < n:
            return 0.0
        ref: dict[tuple[str, ...], int] = {}
        for i in range(lr - n + 1):
            g = tuple(ref_tokens[i:i + n])
            ref[g] = ref.get(g, 0) + 1
        matches = 0
        for i in range(lh - n + 1):
            g = tuple(hyp_tokens[i:i + n])
            if ref.get(g, 0) > 0:
                matches += 1
                ref[g] -= 1
        score *= math.pow(matches / (lh - n + 1), math.pow(0.5, n))
    return score


def d2l_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str | None]], *, k: int = 2,
             lowercase: bool = False) -> BLEUResult:
    """Mean of :func:`d2l_sentence_bleu` over sentences (whitespace tokens, first reference stream), in percent.

    ``precisions`` are the corpus-pooled clipped precisions per order (percent), ``bp`` the mean
    per-sentence brevity factor, for display.
    """
    hyps, refs, _ = _check(hypotheses, references, "none")
    norm = (lambda x: x.lower()) if lowercase else (lambda x: x)  # noqa: E731
    pairs = [(norm(h).split(), norm(r or "").split()) for h, r in zip(hyps, refs[0], strict=True)]
    scores = [d2l_sentence_bleu(h, r, k) for h, r in pairs]
    bps = [math.exp(min(0.0, 1 - len(r) / len(h))) if h else 0.0 for h, r in pairs]
    sys_len, ref_len = sum(len(h) for h, _ in pairs), sum(len(r) for _, r in pairs)
    return BLEUResult(100.0 * sum(scores) / max(len(scores), 1), [], sum(bps) / max(len(bps), 1), sys_len, ref_len)


def _check(hypotheses, references, tokenize: str) -> tuple[list[str], list[list[str]], np.ndarray]:
    """Validate inputs; returns hypotheses, reference streams with None -> "" and the (R, S) presence mask."""
    if tokenize not in TOKENIZERS:
        raise DanluError(f"bleu: tokenize must be one of {list(TOKENIZERS)}, got {tokenize!r}")
    if isinstance(hypotheses, str) or not isinstance(hypotheses, Sequence):
        raise DanluError(f"bleu: hypotheses must be a list of strings, got {type(hypotheses).__name__}")
    bad = next((i for i, h in enumerate(hypotheses) if not isinstance(h, str)), None)
    if bad is not None:
        raise DanluError(f"bleu: hypotheses[{bad}] must be a string, got {type(hypotheses[bad]).__name__}")
    if isinstance(references, str) or not isinstance(references, Sequence) or not references:
        raise DanluError("bleu: references must be a non-empty list of reference streams (lists of strings), "
                         "e.g. [refs] for one reference per sentence")
    s = len(hypotheses)
    if s == 0:
        raise DanluError("bleu: hypotheses is empty; BLEU needs at least one sentence")
    streams = []
    for k, stream in enumerate(references):
        if isinstance(stream, str) or not isinstance(stream, Sequence):
            raise DanluError(f"bleu: references[{k}] must be a list of strings (one per hypothesis), got "
                             f"{type(stream).__name__}; pass [refs], not refs")
        if len(stream) != s:
            raise DanluError(f"bleu: references[{k}] has {len(stream)} lines but there are {s} hypotheses")
        bad = next((i for i, x in enumerate(stream) if x is not None and not isinstance(x, str)), None)
        if bad is not None:
            raise DanluError(f"bleu: references[{k}][{bad}] must be a string or None, "
                             f"got {type(stream[bad]).__name__}")
        streams.append(["" if x is None else x for x in stream])
    present = np.array([[x is not None for x in stream] for stream in references], dtype=bool).reshape(-1, s)
    missing = np.flatnonzero(~present.any(0))
    if len(missing):
        raise DanluError(f"bleu: sentence {int(missing[0])} has no reference (every stream has None there)")
    return list(hypotheses), streams, present


__all__ = ["KINDS", "SMOOTH_DEFAULTS", "TOKENIZERS", "BLEUResult", "bleu", "compute_bleu", "corpus_statistics",
           "d2l_bleu", "d2l_sentence_bleu", "sentence_bleu", "tokenize_13a"]
