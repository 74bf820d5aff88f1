"""Decoded Examples -> torch: tensors for numbers, Python ``bytes`` for bytes features, and a collate.

torch has no string tensors and ``torch.utils.data.default_collate`` refuses numpy object arrays,
so bytes features leave as ``bytes`` (a ``FixedLenFeature([], "bytes")``) or lists of ``bytes``
(any other shape, and every batched column); ``default_collate`` gathers those into lists.

:func:`collate` is a faster ``collate_fn`` for per-record numpy output: it stacks each feature
with one ``numpy.stack`` and makes one tensor of it, where ``default_collate`` makes a tensor per
record and stacks the tensors (a few µs per record and feature).

    >>> import numpy as np
    >>> out = collate([{"x": np.ones(2, np.float32), "b": np.asarray(b"a", object)}] * 3)
    >>> tuple(out["x"].shape), out["b"]
    ((3, 2), [b'a', b'a', b'a'])
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np


def _plain(v: np.ndarray) -> Any:
    """An object array of bytes -> ``bytes`` (0-d) or nested lists of ``bytes``."""
    return v.item() if v.ndim == 0 else v.tolist()


def to_torch(parsed: Mapping[str, Any]):
    """numpy arrays -> torch tensors; bytes (object) arrays -> ``bytes`` / lists of ``bytes``; lists of
    arrays (VarLen columns of a batch) -> lists of tensors. Nested dicts and tuples are walked."""
    import torch

    def conv(v):
        if isinstance(v, np.ndarray):
            if v.dtype == object:
                return _plain(v)
            return torch.from_numpy(v if v.flags.writeable and v.flags.c_contiguous else v.copy())
        if isinstance(v, Mapping):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(parsed)


def record_to_torch(decoder) -> Callable[[bytes], dict[str, Any]]:
    """``record -> {name: tensor | bytes}`` for an :class:`~danlu.data.tfrecord.spec.ExampleDecoder`
    of an Example spec: one ``torch.from_numpy`` per numeric feature and nothing else per record.

    The decoder's arrays are always its own writable, contiguous copies (plans, fast paths and the
    full parse alike; tested), so they are handed to torch without a check or a copy.
    """
    import torch

    from_numpy = torch.from_numpy
    nums = tuple(f.name for f in decoder.fields if f.np_dtype is not object)
    strs = tuple(f.name for f in decoder.fields if f.np_dtype is object)

    def convert(record: bytes) -> dict[str, Any]:
        d = decoder(record)
        for k in nums:
            d[k] = from_numpy(d[k])
        for k in strs:
            v = d[k]
            d[k] = v.item() if v.ndim == 0 else v.tolist()
        return d

    return convert


def collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``collate_fn`` for per-record dicts of numpy arrays (``output="numpy"``): each numeric feature
    -> one ``(B, *shape)`` tensor (``numpy.stack`` then ``torch.from_numpy``); bytes features -> a
    list of ``B`` values; features whose shapes differ between records (VarLen) -> a list of tensors.
    """
    import torch

    if not batch:
        return {}
    out: dict[str, Any] = {}
    for k, v0 in batch[0].items():
        col = [r[k] for r in batch]
        if not isinstance(v0, np.ndarray):  # already converted (tensors, bytes): leave to torch
            out[k] = torch.utils.data.default_collate(col)
        elif v0.dtype == object:
            out[k] = [_plain(v) for v in col]
        elif all(v.shape == v0.shape for v in col):
            out[k] = torch.from_numpy(np.stack(col))
        else:
            out[k] = [torch.from_numpy(np.ascontiguousarray(v)) for v in col]
    return out
