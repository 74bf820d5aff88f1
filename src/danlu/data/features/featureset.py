"""FeatureSet: a dict of raw columns -> one dense (N, D) tensor, from a list of dense columns.

    >>> import numpy as np
    >>> from danlu.data.features import FeatureSet, Numeric, Indicator, Embedding, Vocabulary, HashBucket
    >>> data = {"age": np.array([20., 30., 40.]), "city": ["a", "b", "a"], "tags": [["x"], ["x", "y"], []]}
    >>> fs = FeatureSet([Numeric("age", normalize=True), Indicator(Vocabulary("city")),
    ...                  Embedding(HashBucket("tags", 8), dim=4, combiner="mean")])
    >>> fs.adapt(data)
    >>> fs(data).shape          # 1 + (1 OOV + 2 tokens) + 4
    torch.Size([3, 8])

``adapt(data)`` learns every column's statistics (normalization, vocabularies, quantile
boundaries); ``state_dict()`` carries them (vocabularies and boundaries as extra state) along
with the embedding tables, so ``load_state_dict`` on a freshly built FeatureSet restores it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from danlu.data.features.dense import DenseColumn
from danlu.errors import DanluError


class FeatureSet(nn.Module):
    """Concatenate the outputs of dense columns (``Numeric``, ``Indicator``, ``Embedding``) along dim 1."""

    def __init__(self, columns: Sequence[DenseColumn]) -> None:
        super().__init__()
        bad = [type(c).__name__ for c in columns if not isinstance(c, DenseColumn)]
        if bad:
            raise DanluError(f"FeatureSet takes dense columns (Numeric, Indicator, Embedding); got {bad[0]}: "
                             "wrap a categorical column in Indicator(...) or Embedding(...)")
        if not columns:
            raise DanluError("FeatureSet needs at least one column")
        self.columns = nn.ModuleList(columns)

    @property
    def output_dim(self) -> int:
        """Width of the output (known once vocabularies/boundaries are set)."""
        return sum(c.output_dim for c in self.columns)

    def adapt(self, data: Mapping) -> None:
        """Learn every column's state from a dict of raw columns (a representative sample)."""
        for c in self.columns:
            c.adapt(data)

    def forward(self, data: Mapping) -> torch.Tensor:
        outs = [c(data) for c in self.columns]  # each (N, d_i)
        n = {o.shape[0] for o in outs}
        if len(n) != 1:
            raise DanluError(f"columns produced different numbers of rows: {sorted(n)}")
        dev = next((o.device for o in outs if o.device.type != "cpu"), outs[0].device)
        return torch.cat([o.to(dev) for o in outs], dim=1)  # (N, D)
