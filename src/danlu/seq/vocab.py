"""Tokenizers and a vocabulary with reserved ``<pad> <bos> <eos> <unk>`` (d2l's ``Vocab``, typed and checked).

    >>> from danlu.seq.vocab import Vocab
    >>> v = Vocab([["a", "b", "b"], ["b", "c"]], min_freq=2)
    >>> v.tokens
    ['<pad>', '<bos>', '<eos>', '<unk>', 'b']
    >>> v.encode(["b", "zzz"])
    [4, 3]

Ids 0..3 are always ``<pad>``, ``<bos>``, ``<eos>``, ``<unk>``; the rest are sorted by frequency
(descending), ties by first appearance. Unknown tokens map to ``<unk>`` (or raise with ``strict``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import torch

from danlu.errors import DanluError

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
RESERVED = (PAD, BOS, EOS, UNK)
PAD_ID, BOS_ID, EOS_ID, UNK_ID = 0, 1, 2, 3


def tokenize(line: str, mode: str = "word") -> list[str]:
    """``"word"``: whitespace tokens; ``"char"``: characters (spaces kept as tokens)."""
    if mode == "word":
        return line.split()
    if mode == "char":
        return list(line)
    raise DanluError(f"tokenize: mode must be 'word' or 'char', got {mode!r}")


class Vocab:
    """Token <-> id mapping built from tokenized sentences.

    Args:
        sentences: iterable of token lists.
        min_freq: tokens seen fewer times are left out (they encode to ``<unk>``).
        extra: tokens always included (after the reserved ones), e.g. a fixed alphabet.
    """

    def __init__(self, sentences: Iterable[Sequence[str]] = (), min_freq: int = 1,
                 extra: Sequence[str] = ()) -> None:
        if min_freq < 1:
            raise DanluError(f"Vocab: min_freq must be >= 1, got {min_freq}")
        counts: Counter[str] = Counter(t for s in sentences for t in s)
        order = sorted(counts.items(), key=lambda kv: -kv[1])  # stable: ties keep first appearance
        self.tokens: list[str] = list(RESERVED)
        self._idx: dict[str, int] = {t: i for i, t in enumerate(self.tokens)}
        for t in [*extra, *(t for t, c in order if c >= min_freq)]:
            if t not in self._idx:
                self._idx[t] = len(self.tokens)
                self.tokens.append(t)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._idx

    def encode(self, tokens: Sequence[str], strict: bool = False) -> list[int]:
        """Ids of ``tokens``; unknown ones -> ``<unk>`` (or a DanluError naming the token with ``strict``)."""
        idx = self._idx
        if strict:
            bad = next((t for t in tokens if t not in idx), None)
            if bad is not None:
                raise DanluError(f"Vocab.encode: token {bad!r} is not in the vocabulary ({len(self)} tokens)")
        return [idx.get(t, UNK_ID) for t in tokens]

    def decode(self, ids: Iterable[int], strip: bool = True) -> list[str]:
        """Tokens of ``ids``; with ``strip``, stops at ``<eos>`` and drops ``<pad>``/``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise DanluError(f"Vocab.decode: id {i} is outside the vocabulary [0, {len(self)})")
            if strip and i == EOS_ID:
                break
            if strip and i in (PAD_ID, BOS_ID):
                continue
            out.append(self.tokens[i])
        return out

    def state_dict(self) -> dict:
        return {"tokens": list(self.tokens)}

    @classmethod
    def from_tokens(cls, tokens: Sequence[str]) -> Vocab:
        """A vocabulary with exactly ``tokens`` (the first four must be the reserved ones)."""
        if tuple(tokens[:4]) != RESERVED:
            raise DanluError(f"Vocab.from_tokens: the first tokens must be {RESERVED}, got {tuple(tokens[:4])}")
        v = cls()
        v.tokens = list(tokens)
        v._idx = {t: i for i, t in enumerate(v.tokens)}
        return v


def pad_batch(seqs: Sequence[Sequence[int]], max_len: int | None = None, *, bos: bool = False,
              eos: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Id lists -> (ids (N, L) padded with ``<pad>``, valid lengths (N,)); longer ones are truncated to ``max_len``
    (``<eos>`` is kept as the last token when ``eos``)."""
    rows = [([BOS_ID] if bos else []) + list(s) + ([EOS_ID] if eos else []) for s in seqs]
    if max_len is not None:
        if max_len < 1:
            raise DanluError(f"pad_batch: max_len must be >= 1, got {max_len}")
        rows = [r if len(r) <= max_len else r[:max_len - 1] + [r[-1] if eos else r[max_len - 1]] for r in rows]
    n = max((len(r) for r in rows), default=0) if max_len is None else max_len
    out = torch.full((len(rows), n), PAD_ID, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, :len(r)] = torch.tensor(r, dtype=torch.long)
    return out, torch.tensor([len(r) for r in rows], dtype=torch.long)
