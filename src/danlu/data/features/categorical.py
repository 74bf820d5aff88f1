"""Categorical feature columns (ids), with the Keras preprocessing layers' semantics.

Each is an ``nn.Module`` whose ``forward(data)`` maps a dict of raw columns to :class:`CatIds`
(flat ids + row lengths), consumed by :class:`~danlu.data.features.dense.Indicator` and
:class:`~danlu.data.features.dense.Embedding`:

* :class:`Vocabulary` -- Keras ``StringLookup``/``IntegerLookup`` (``output_mode="int"``): OOV
  indices first (``[0, num_oov_indices)``), token ``i`` -> ``num_oov_indices + i``; with several
  OOV indices a string goes to ``Fingerprint64(s) mod num_oov_indices`` and an integer to
  ``x mod num_oov_indices``. ``adapt`` orders the vocabulary by descending count, ties by token.
* :class:`Identity` -- ``categorical_column_with_identity``: the integer is the id.
* :class:`HashBucket` -- Keras ``Hashing`` (FarmHash Fingerprint64, see :mod:`.hashing`).
* :class:`Bucketized` -- Keras ``Discretization``: ``id = #{boundaries <= x}``; ``adapt`` puts the
  boundaries at the ``1/num_bins ... (num_bins-1)/num_bins`` quantiles (exact, where Keras
  uses an approximate quantile sketch).
* :class:`Crossed` -- Keras ``HashedCrossing`` over raw keys or other categorical columns
  (the cartesian product of the row's values, hashed with ``FingerprintCat64``).
* :class:`Weighted` -- ``weighted_categorical_column``: attaches a weight per id.
"""

from __future__ import annotations

import itertools
import numbers
import os
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from danlu.data.features.farmhash import fingerprint64
from danlu.data.features.hashing import as_hash_strings, cross_values, hash_bucket, hashed_cross
from danlu.data.features.ragged import CatIds, flatten, rows_of
from danlu.errors import DanluError


class CategoricalColumn(nn.Module):
    """Base: ``forward(data) -> CatIds``; ``num_buckets`` is the id range; ``adapt(data)`` if it learns."""

    key: str

    @property
    def num_buckets(self) -> int:
        raise NotImplementedError

    def adapt(self, data) -> None:  # most columns learn nothing
        """Learn state from a dict of raw columns (no-op for stateless columns)."""

    def ids(self, values, lengths) -> np.ndarray:
        raise NotImplementedError

    def forward(self, data) -> CatIds:
        values, lengths = flatten(rows_of(data, self.key), self.key)
        ids = np.asarray(self.ids(values, lengths), dtype=np.int64)
        return CatIds(torch.from_numpy(ids), torch.from_numpy(lengths), self.num_buckets)


def _token(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    return v


class Vocabulary(CategoricalColumn):
    """Vocabulary lookup (Keras ``StringLookup`` / ``IntegerLookup``).

    Args:
        key: the raw column.
        vocabulary: tokens (str or int), or None to learn them with :meth:`adapt`.
        vocabulary_file: alternatively a text file with one token per line.
        num_oov_indices: OOV buckets at the front (0: an unknown token is an error).
        max_tokens: cap on the adapted vocabulary size (most frequent kept; counts OOV indices, as Keras).
    """

    def __init__(self, key: str, vocabulary: Sequence | None = None, *, vocabulary_file: str | os.PathLike | None = None,
                 num_oov_indices: int = 1, max_tokens: int | None = None) -> None:
        super().__init__()
        self.key, self.num_oov_indices, self.max_tokens = key, int(num_oov_indices), max_tokens
        if self.num_oov_indices < 0:
            raise DanluError(f"num_oov_indices must be >= 0, got {num_oov_indices}")
        if vocabulary is not None and vocabulary_file is not None:
            raise DanluError("give vocabulary or vocabulary_file, not both")
        if vocabulary_file is not None:
            with open(vocabulary_file, encoding="utf-8") as f:
                vocabulary = [line.rstrip("\n") for line in f if line.rstrip("\n")]
        self._set_vocab(vocabulary)

    def _set_vocab(self, vocabulary: Sequence | None) -> None:
        self.vocabulary = None if vocabulary is None else [_token(v) for v in vocabulary]
        if self.vocabulary is not None:
            if len(set(self.vocabulary)) != len(self.vocabulary):
                dup = [t for t, c in Counter(self.vocabulary).items() if c > 1][0]
                raise DanluError(f"vocabulary of {self.key!r} repeats the token {dup!r}")
            self._table = {t: i + self.num_oov_indices for i, t in enumerate(self.vocabulary)}

    @property
    def num_buckets(self) -> int:
        if self.vocabulary is None:
            raise DanluError(f"column {self.key!r} has no vocabulary yet: pass one or call adapt(data)")
        return self.num_oov_indices + len(self.vocabulary)

    def adapt(self, data) -> None:
        values, _ = flatten(rows_of(data, self.key), self.key)
        counts = Counter(_token(v) for v in values)
        vocab = sorted(counts, key=lambda t: (-counts[t], t))
        if self.max_tokens is not None:
            vocab = vocab[: max(self.max_tokens - self.num_oov_indices, 0)]
        self._set_vocab(vocab)

    def ids(self, values, lengths) -> np.ndarray:
        _ = self.num_buckets
        toks = [_token(v) for v in values]
        ids = np.fromiter((self._table.get(t, -1) for t in toks), dtype=np.int64, count=len(toks))
        oov = np.flatnonzero(ids < 0)
        if len(oov):
            if self.num_oov_indices == 0:
                raise DanluError(f"column {self.key!r}: token {toks[oov[0]]!r} is not in the vocabulary "
                                 "and num_oov_indices=0")
            if self.num_oov_indices == 1:
                ids[oov] = 0
            elif all(isinstance(toks[i], numbers.Integral) for i in oov):
                ids[oov] = np.array([toks[i] for i in oov], dtype=np.int64) % self.num_oov_indices
            else:
                fp = fingerprint64(as_hash_strings([toks[i] for i in oov]))
                ids[oov] = (fp % np.uint64(self.num_oov_indices)).astype(np.int64)
        return ids

    def get_extra_state(self) -> Any:
        return {"vocabulary": self.vocabulary}

    def set_extra_state(self, state: Any) -> None:
        self._set_vocab(state["vocabulary"])


class Identity(CategoricalColumn):
    """Integer ids used as they are (``categorical_column_with_identity``); ``default_value`` for out-of-range."""

    def __init__(self, key: str, num_buckets: int, default_value: int | None = None) -> None:
        super().__init__()
        self.key, self._n, self.default_value = key, int(num_buckets), default_value
        if default_value is not None and not 0 <= default_value < num_buckets:
            raise DanluError(f"default_value {default_value} is outside [0, {num_buckets})")

    @property
    def num_buckets(self) -> int:
        return self._n

    def ids(self, values, lengths) -> np.ndarray:
        try:
            ids = np.asarray(values, dtype=np.int64).reshape(-1)
        except (TypeError, ValueError):
            raise DanluError(f"column {self.key!r}: identity ids must be integers") from None
        bad = (ids < 0) | (ids >= self._n)
        if bad.any():
            if self.default_value is None:
                raise DanluError(f"column {self.key!r}: id {ids[bad][0]} is outside [0, {self._n}) "
                                 "and there is no default_value")
            ids = np.where(bad, self.default_value, ids)
        return ids


class HashBucket(CategoricalColumn):
    """Keras ``Hashing(num_bins, mask_value)``: ``Fingerprint64(str(x)) mod num_bins``."""

    def __init__(self, key: str, num_bins: int, mask_value=None) -> None:
        super().__init__()
        self.key, self.num_bins, self.mask_value = key, int(num_bins), mask_value
        if self.num_bins < 1:
            raise DanluError(f"num_bins must be >= 1, got {num_bins}")

    @property
    def num_buckets(self) -> int:
        return self.num_bins

    def ids(self, values, lengths) -> np.ndarray:
        return hash_bucket(list(values), self.num_bins, self.mask_value)


class Bucketized(CategoricalColumn):
    """Keras ``Discretization``: ``id = number of boundaries <= x``, ``len(boundaries) + 1`` buckets.

    Give ``boundaries`` (ascending) or ``num_bins`` and call :meth:`adapt` (quantile boundaries).
    """

    def __init__(self, key: str, boundaries: Sequence[float] | None = None, *, num_bins: int | None = None) -> None:
        super().__init__()
        if boundaries is None and num_bins is None:
            raise DanluError("Bucketized needs boundaries or num_bins (then adapt)")
        self.key, self.num_bins = key, num_bins
        self._set(boundaries)

    def _set(self, boundaries) -> None:
        self.boundaries = None if boundaries is None else [float(b) for b in boundaries]
        if self.boundaries is not None and any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise DanluError(f"boundaries of {self.key!r} must be strictly increasing, got {self.boundaries}")

    @property
    def num_buckets(self) -> int:
        if self.boundaries is None:
            raise DanluError(f"column {self.key!r} has no boundaries yet: call adapt(data)")
        return len(self.boundaries) + 1

    def adapt(self, data) -> None:
        if self.num_bins is None:
            return
        x = np.asarray(rows_of(data, self.key), dtype=np.float64).reshape(-1)
        q = np.quantile(x, np.arange(1, self.num_bins) / self.num_bins)
        self._set(np.unique(q).tolist())

    def ids(self, values, lengths) -> np.ndarray:
        _ = self.num_buckets
        x = np.asarray(values, dtype=np.float64)
        return np.searchsorted(np.asarray(self.boundaries), x, side="right")

    def get_extra_state(self) -> Any:
        return {"boundaries": self.boundaries}

    def set_extra_state(self, state: Any) -> None:
        self._set(state["boundaries"])


class Crossed(CategoricalColumn):
    """Keras ``HashedCrossing``: hash every combination of the row's values into ``num_bins``.

    ``sources`` are raw column keys (their str/int values are crossed) or categorical columns
    (their integer ids are crossed, as ``crossed_column`` does with bucketized inputs).
    """

    def __init__(self, sources: Sequence[str | CategoricalColumn], num_bins: int) -> None:
        super().__init__()
        if len(sources) < 2:
            raise DanluError(f"a cross needs at least 2 sources, got {len(sources)}")
        self.keys = [s if isinstance(s, str) else None for s in sources]
        self.sources = nn.ModuleList([s for s in sources if not isinstance(s, str)])
        self._order = list(sources)
        self.key = "_X_".join(s if isinstance(s, str) else s.key for s in sources)
        self.num_bins = int(num_bins)

    @property
    def num_buckets(self) -> int:
        return self.num_bins

    def adapt(self, data) -> None:
        for s in self.sources:
            s.adapt(data)

    def forward(self, data) -> CatIds:
        per = []  # (flat uint64 values, lengths) per source
        for s in self._order:
            if isinstance(s, str):
                values, lengths = flatten(rows_of(data, s), s)
                per.append((cross_values(values.tolist() if isinstance(values, np.ndarray) else values), lengths))
            else:
                c = s(data)
                per.append((c.ids.numpy().astype(np.uint64), c.lengths.numpy()))
        n = len(per[0][1])
        if any(len(lens) != n for _, lens in per):
            raise DanluError(f"cross {self.key!r}: its sources have different numbers of rows")
        if all((lens == 1).all() for _, lens in per):  # one value each: vectorised
            ids = hashed_cross([v for v, _ in per], self.num_bins)
            return CatIds(torch.from_numpy(ids), torch.ones(n, dtype=torch.int64), self.num_bins)
        starts = [np.concatenate([[0], np.cumsum(lens)]) for _, lens in per]
        cols, lengths = [[] for _ in per], np.zeros(n, dtype=np.int64)
        for r in range(n):
            combos = list(itertools.product(*[range(st[r], st[r + 1]) for st in starts]))
            lengths[r] = len(combos)
            for j, (v, _) in enumerate(per):
                cols[j].extend(v[c[j]] for c in combos)
        ids = hashed_cross([np.array(c, dtype=np.uint64) for c in cols], self.num_bins) if lengths.sum() else \
            np.zeros(0, dtype=np.int64)
        return CatIds(torch.from_numpy(ids), torch.from_numpy(lengths), self.num_bins)


class Weighted(CategoricalColumn):
    """``weighted_categorical_column``: the ids of ``categorical`` with weights from ``weight_key``
    (same row structure as the ids)."""

    def __init__(self, categorical: CategoricalColumn, weight_key: str) -> None:
        super().__init__()
        self.categorical, self.weight_key = categorical, weight_key
        self.key = categorical.key

    @property
    def num_buckets(self) -> int:
        return self.categorical.num_buckets

    def adapt(self, data) -> None:
        self.categorical.adapt(data)

    def forward(self, data) -> CatIds:
        c = self.categorical(data)
        w, lengths = flatten(rows_of(data, self.weight_key), self.weight_key)
        if not np.array_equal(lengths, c.lengths.numpy()):
            raise DanluError(f"weights {self.weight_key!r} do not have one weight per id of {self.key!r}")
        c.weights = torch.as_tensor(np.asarray(w, dtype=np.float32))
        return c
