"""Dense feature columns (float outputs): numeric with normalization, indicator, embedding.

* :class:`Numeric` -- Keras ``Normalization``: ``(x - mean) / max(sqrt(var), 1e-7)``, mean and
  (population) variance learned by :meth:`Numeric.adapt`; or the raw value (``normalize=False``).
* :class:`Indicator` -- Keras ``CategoryEncoding``: ``one_hot`` / ``multi_hot`` / ``count``
  (weighted columns add their weights, as ``indicator_column`` does).
* :class:`Embedding` -- ``embedding_column``: a trainable table combined per row with
  ``combiner`` ``sum`` (``sum w e``), ``mean`` (``sum w e / sum w``) or ``sqrtn``
  (``sum w e / sqrt(sum w^2)``), ``w = 1`` unless weighted; rows with no ids give zeros
  (``tf.nn.safe_embedding_lookup_sparse``). Built on ``nn.EmbeddingBag``.
"""

from __future__ import annotations

import contextlib
import math

import numpy as np
import torch
from torch import nn

from danlu.data.features.categorical import CategoricalColumn
from danlu.data.features.ragged import rows_of
from danlu.errors import DanluError

EPSILON = 1e-7  # keras.backend.epsilon()


class DenseColumn(nn.Module):
    """Base: ``forward(data) -> (N, output_dim)`` float tensor."""

    output_dim: int

    def adapt(self, data) -> None:
        """Learn state from a dict of raw columns (no-op unless the column learns)."""


class Numeric(DenseColumn):
    """A numeric column of ``shape`` values per row, optionally normalized (Keras ``Normalization``).

    Args:
        key: the raw column ((N,) or (N, *shape) numbers).
        shape: values per row (an int or a tuple); the output is flattened to ``prod(shape)``.
        normalize: subtract the mean, divide by the standard deviation (set by ``adapt`` or given).
        mean, variance: fixed statistics (floats or per-element arrays) instead of ``adapt``.
    """

    def __init__(self, key: str, shape: int | tuple[int, ...] = 1, *, normalize: bool = False,
                 mean=None, variance=None) -> None:
        super().__init__()
        self.key = key
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.output_dim = math.prod(self.shape)
        self.normalize = normalize
        self.register_buffer("mean", torch.zeros(self.output_dim))
        self.register_buffer("variance", torch.ones(self.output_dim))
        self.register_buffer("adapted", torch.tensor(mean is not None and variance is not None))
        if (mean is None) != (variance is None):
            raise DanluError(f"column {key!r}: give both mean and variance, or neither")
        if mean is not None:
            self.mean.copy_(torch.as_tensor(np.broadcast_to(mean, (self.output_dim,)).copy(), dtype=torch.float32))
            self.variance.copy_(torch.as_tensor(np.broadcast_to(variance, (self.output_dim,)).copy(),
                                                dtype=torch.float32))

    def _raw(self, data) -> torch.Tensor:
        x = torch.as_tensor(np.asarray(rows_of(data, self.key), dtype=np.float32))
        try:
            return x.reshape(x.shape[0], self.output_dim)  # (N, D)
        except RuntimeError:
            raise DanluError(f"column {self.key!r}: shape {tuple(x.shape)} does not give {self.output_dim} "
                             "value(s) per row") from None

    def adapt(self, data) -> None:
        if not self.normalize:
            return
        x = self._raw(data).double()
        self.mean.copy_(x.mean(0).float())
        self.variance.copy_(x.var(0, unbiased=False).float())
        self.adapted.fill_(True)

    def forward(self, data) -> torch.Tensor:
        x = self._raw(data)  # (N, D)
        if not self.normalize:
            return x
        if not bool(self.adapted):
            raise DanluError(f"column {self.key!r} normalizes but has no statistics: call adapt(data) or "
                             "give mean and variance")
        return (x - self.mean) / torch.clamp(self.variance.sqrt(), min=EPSILON)


class Indicator(DenseColumn):
    """One-hot / multi-hot / count encoding of a categorical column (Keras ``CategoryEncoding``)."""

    MODES = ("one_hot", "multi_hot", "count")

    def __init__(self, categorical: CategoricalColumn, output_mode: str = "multi_hot") -> None:
        super().__init__()
        if output_mode not in self.MODES:
            raise DanluError(f"output_mode must be one of {self.MODES}, got {output_mode!r}")
        self.categorical, self.output_mode = categorical, output_mode
        self.key = categorical.key

    @property
    def output_dim(self) -> int:
        return self.categorical.num_buckets

    def adapt(self, data) -> None:
        self.categorical.adapt(data)

    def forward(self, data) -> torch.Tensor:
        c = self.categorical(data)
        n = len(c.lengths)
        out = torch.zeros(n, c.num_buckets)  # (N, num_buckets)
        if self.output_mode == "one_hot" and not bool((c.lengths == 1).all()):
            raise DanluError(f"column {self.key!r}: one_hot needs exactly one id per row; use multi_hot or count")
        w = c.weights if (c.weights is not None and self.output_mode == "count") else torch.ones(len(c.ids))
        out.index_put_((c.row, c.ids), w, accumulate=True)
        if self.output_mode == "multi_hot":
            out = (out != 0).float() if c.weights is None else out.clamp(max=1.0)
        return out


class Embedding(DenseColumn):
    """A trainable embedding of a categorical column, combined per row (``embedding_column``).

    Args:
        categorical: the id column (its ``num_buckets`` rows; an adapted vocabulary is fine: the
            table is created once the size is known).
        dim: embedding width.
        combiner: ``"sum"``, ``"mean"`` or ``"sqrtn"``.
        max_norm: renormalize looked-up rows to this norm (as ``nn.Embedding``).
    """

    COMBINERS = ("sum", "mean", "sqrtn")

    def __init__(self, categorical: CategoricalColumn, dim: int, combiner: str = "mean",
                 max_norm: float | None = None) -> None:
        super().__init__()
        if combiner not in self.COMBINERS:
            raise DanluError(f"combiner must be one of {self.COMBINERS}, got {combiner!r}")
        self.categorical, self.dim, self.combiner, self.max_norm = categorical, int(dim), combiner, max_norm
        self.key = categorical.key
        self.output_dim = self.dim
        self.table: nn.EmbeddingBag | None = None
        with contextlib.suppress(DanluError):  # else the vocabulary is still to be adapted
            self._build(categorical.num_buckets)

    def _build(self, n: int) -> None:
        if self.table is not None and self.table.num_embeddings == n:
            return
        self.table = nn.EmbeddingBag(n, self.dim, mode="sum", max_norm=self.max_norm)
        nn.init.trunc_normal_(self.table.weight, std=1 / math.sqrt(self.dim), a=-2 / math.sqrt(self.dim),
                              b=2 / math.sqrt(self.dim))  # TF's default for embedding_column

    def adapt(self, data) -> None:
        self.categorical.adapt(data)
        self._build(self.categorical.num_buckets)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        w = state_dict.get(prefix + "table.weight")
        if w is not None and (self.table is None or self.table.num_embeddings != w.shape[0]):
            self.table = nn.EmbeddingBag(w.shape[0], self.dim, mode="sum", max_norm=self.max_norm)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, data) -> torch.Tensor:
        if self.table is None:
            raise DanluError(f"embedding of {self.key!r} has no table yet: call adapt(data) first")
        c = self.categorical(data)
        if c.num_buckets != self.table.num_embeddings:
            raise DanluError(f"embedding of {self.key!r} has {self.table.num_embeddings} rows but the column now "
                             f"has {c.num_buckets} buckets; call adapt again before training")
        dev = self.table.weight.device
        w = c.weights.to(dev) if c.weights is not None else None
        out = self.table(c.ids.to(dev), c.offsets.to(dev), per_sample_weights=w)  # (N, dim) = sum_i w_i e_i
        if self.combiner == "sum":
            return out
        ones = torch.ones(len(c.ids), device=dev) if w is None else w
        row = c.row.to(dev)
        if self.combiner == "mean":
            denom = torch.zeros(len(c.lengths), device=dev).index_add_(0, row, ones)
        else:
            denom = torch.zeros(len(c.lengths), device=dev).index_add_(0, row, ones * ones).sqrt()
        return out / torch.where(denom > 0, denom, torch.ones_like(denom))[:, None]
