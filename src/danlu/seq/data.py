"""Parallel data: a TSV loader and embedded synthetic tasks (copy, reversal, addition, dates) as Splits.

Tensors follow one convention everywhere in :mod:`danlu.seq`: ``src`` (N, S) ids ending in
``<eos>`` then ``<pad>`` (id 0), ``tgt`` (N, T) ids ``<bos> ... <eos>`` then ``<pad>``; valid
lengths are ``(ids != 0).sum(1)``. Source and target share one vocabulary (``info["vocab"]``).

    >>> from danlu.data import load_dataset
    >>> s = load_dataset("seq_reverse", seed=0, n=100, min_len=3, max_len=5)
    >>> s.train.tensors[0].shape[1], s.info["tokenize"]
    (6, 'word')
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from danlu.data.splits import DATASETS, Splits, tensor_splits
from danlu.errors import DanluError
from danlu.seq.vocab import PAD_ID, Vocab, pad_batch, tokenize


@dataclass
class ParallelData:
    """Encoded sentence pairs: src (N, S), tgt (N, T) (layout in the module docstring) and the vocabulary."""

    src: torch.Tensor
    tgt: torch.Tensor
    vocab: Vocab
    mode: str

    @property
    def src_len(self) -> torch.Tensor:
        return (self.src != PAD_ID).sum(1)

    @property
    def tgt_len(self) -> torch.Tensor:
        return (self.tgt != PAD_ID).sum(1)


def encode_pairs(pairs: Sequence[tuple[str, str]], mode: str = "word", *, vocab: Vocab | None = None,
                 min_freq: int = 1, max_src_len: int | None = None, max_tgt_len: int | None = None) -> ParallelData:
    """Tokenize, build (or use) a shared vocabulary, pad/truncate: src gets ``<eos>``, tgt ``<bos>..<eos>``."""
    if not pairs:
        raise DanluError("encode_pairs: no sentence pairs")
    src_tok = [tokenize(s, mode) for s, _ in pairs]
    tgt_tok = [tokenize(t, mode) for _, t in pairs]
    vocab = vocab or Vocab(src_tok + tgt_tok, min_freq=min_freq)
    src, _ = pad_batch([vocab.encode(t) for t in src_tok], max_src_len, eos=True)
    tgt, _ = pad_batch([vocab.encode(t) for t in tgt_tok], max_tgt_len, bos=True, eos=True)
    return ParallelData(src, tgt, vocab, mode)


def load_tsv(path: str, mode: str = "word", *, min_freq: int = 1, max_src_len: int | None = None,
             max_tgt_len: int | None = None, lowercase: bool = False) -> ParallelData:
    """A parallel corpus ``source<TAB>target`` per line (UTF-8; blank lines skipped) as :class:`ParallelData`.

    A line that is not UTF-8 or has no tab is a :class:`DanluError` naming the file and the line.
    """
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise DanluError(f"{path}: cannot read ({e.strerror or e})") from None
    pairs = []
    for i, line in enumerate(raw.split(b"\n"), 1):
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError as e:
            raise DanluError(f"{path}: line {i} is not valid UTF-8 (byte {e.start + 1})") from None
        if not text.strip():
            continue
        if "\t" not in text:
            raise DanluError(f"{path}: line {i} has no tab; expected 'source<TAB>target'")
        s, t = text.split("\t", 1)
        pairs.append((s.lower(), t.lower()) if lowercase else (s, t))
    if not pairs:
        raise DanluError(f"{path}: no sentence pairs")
    return encode_pairs(pairs, mode, min_freq=min_freq, max_src_len=max_src_len, max_tgt_len=max_tgt_len)


# ----------------------------------------------------------------------------- synthetic tasks
def symbol_pairs(task: str, n: int, *, seed: int = 0, min_len: int = 3, max_len: int = 10,
                 symbols: int = 10) -> list[tuple[str, str]]:
    """``copy``, ``reverse`` (word tokens ``s0..s{symbols-1}``) or ``addition`` (char tokens ``"12+345"`` -> ``"357"``)."""
    if not 1 <= min_len <= max_len:
        raise DanluError(f"symbol_pairs: need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        k = rng.randint(min_len, max_len)
        if task == "addition":
            a, b = rng.randrange(10 ** k), rng.randrange(10 ** rng.randint(min_len, k))
            out.append((f"{a}+{b}", str(a + b)))
            continue
        seq = [f"s{rng.randrange(symbols)}" for _ in range(k)]
        tgt = seq if task == "copy" else seq[::-1]
        out.append((" ".join(seq), " ".join(tgt)))
    return out


def pairs_splits(name: str, pairs: list[tuple[str, str]], mode: str, seed: int, **info) -> Splits:
    """Encode pairs and split them 70/15/15 deterministically; ``info`` gets the vocabulary and the mode."""
    data = encode_pairs(pairs, mode)
    return tensor_splits(name, data.src, data.tgt, seed=seed, num_classes=len(data.vocab), stratify=False,
                         info={"vocab": data.vocab.tokens, "tokenize": mode, **info})


@DATASETS.register("seq_copy")
def seq_copy(seed: int = 0, n: int = 2000, min_len: int = 3, max_len: int = 10, symbols: int = 10) -> Splits:
    """Copy a random symbol sequence (the easiest seq2seq task)."""
    return pairs_splits("seq_copy", symbol_pairs("copy", n, seed=seed, min_len=min_len, max_len=max_len,
                                                 symbols=symbols), "word", seed)


@DATASETS.register("seq_reverse")
def seq_reverse(seed: int = 0, n: int = 2000, min_len: int = 3, max_len: int = 10, symbols: int = 10) -> Splits:
    """Reverse a random symbol sequence."""
    return pairs_splits("seq_reverse", symbol_pairs("reverse", n, seed=seed, min_len=min_len, max_len=max_len,
                                                    symbols=symbols), "word", seed)


@DATASETS.register("seq_addition")
def seq_addition(seed: int = 0, n: int = 2000, min_len: int = 1, max_len: int = 4) -> Splits:
    """Add two numbers written as characters (``"12+345"`` -> ``"357"``)."""
    return pairs_splits("seq_addition", symbol_pairs("addition", n, seed=seed, min_len=min_len, max_len=max_len),
                        "char", seed)


@DATASETS.register("dates")
def dates(seed: int = 0, n: int = 4000, filler: int = 0) -> Splits:
    """Date normalisation (:mod:`danlu.seq.dates`), character tokens; ``filler`` lengthens the inputs."""
    from danlu.seq.dates import date_pairs

    return pairs_splits("dates", date_pairs(n, seed=seed, filler=filler), "char", seed, filler=filler)
