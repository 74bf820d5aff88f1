"""Raw column values -> flat values + row lengths, and the ids a categorical column produces.

A raw categorical column is one value per row (a list, or a 1-D array), a fixed number per row
(a 2-D array), or a ragged list of lists. It is flattened to ``values`` (a Python list or a
numpy array) and ``lengths`` (N,), the number of values per row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from danlu.errors import DanluError


def flatten(raw, name: str) -> tuple[list | np.ndarray, np.ndarray]:
    """``(values, lengths)`` of a raw column (see the module docstring)."""
    if isinstance(raw, torch.Tensor):
        raw = raw.detach().cpu().numpy()
    if isinstance(raw, np.ndarray):
        if raw.ndim == 0:
            raise DanluError(f"column {name!r}: expected one value per row, got a scalar")
        if raw.ndim == 1:
            return raw, np.ones(len(raw), dtype=np.int64)
        if raw.ndim == 2:
            return raw.reshape(-1), np.full(raw.shape[0], raw.shape[1], dtype=np.int64)
        raise DanluError(f"column {name!r}: expected 1-D or 2-D values, got shape {raw.shape}")
    if isinstance(raw, str | bytes) or not hasattr(raw, "__len__"):
        raise DanluError(f"column {name!r}: expected a list/array of rows, got {type(raw).__name__}")
    if any(isinstance(r, list | tuple | np.ndarray) for r in raw):
        values, lengths = [], np.empty(len(raw), dtype=np.int64)
        for i, r in enumerate(raw):
            r = list(r) if isinstance(r, list | tuple | np.ndarray) else [r]
            values.extend(r)
            lengths[i] = len(r)
        return values, lengths
    return list(raw), np.ones(len(raw), dtype=np.int64)


def rows_of(data, key: str):
    try:
        return data[key]
    except (KeyError, IndexError, TypeError):
        have = sorted(data) if hasattr(data, "keys") else type(data).__name__
        raise DanluError(f"input has no column {key!r}; it has {have}") from None


@dataclass
class CatIds:
    """Categorical ids of a batch: ``ids`` (T,) int64 flat, ``lengths`` (N,) ids per row,
    ``weights`` (T,) float32 or None, and ``num_buckets`` (ids lie in ``[0, num_buckets)``)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    num_buckets: int
    weights: torch.Tensor | None = None

    @property
    def offsets(self) -> torch.Tensor:
        """Start of each row in ``ids`` (N,), as ``nn.EmbeddingBag`` takes them."""
        return torch.cumsum(self.lengths, 0) - self.lengths

    @property
    def row(self) -> torch.Tensor:
        """Row index of every id (T,)."""
        return torch.repeat_interleave(torch.arange(len(self.lengths)), self.lengths)

    def padded(self, pad: int = -1) -> torch.Tensor:
        """Ids as a (N, max_len) matrix, ``pad`` where a row is shorter."""
        n, k = len(self.lengths), int(self.lengths.max()) if len(self.lengths) else 0
        out = torch.full((n, k), pad, dtype=torch.int64)
        pos = torch.arange(len(self.ids)) - torch.repeat_interleave(self.offsets, self.lengths)
        out[self.row, pos] = self.ids
        return out
