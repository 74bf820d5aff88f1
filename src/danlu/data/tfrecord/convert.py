"""Decoded Examples -> torch: tensors for numbers, Python ``bytes`` for bytes features, and a collate.

torch has no string tensors and ``torch.utils.data.default_collate`` refuses numpy object arrays,
so bytes features leave as ``bytes`` (a ``FixedLenFeature([], "bytes")``) or lists of ``bytes``
(any other shape, and every batched column); ``default_collate`` gathers those into lists.

Records and batches from ``TFRecordDataset`` are :class:`Decoded` dicts: out of a DataLoader worker
their tensors travel inside the pickle instead of one shared-memory file each (measured: 2 small
tensors a batch, 4-5 ms by shared memory vs 0.6 ms inline on a busy 2-core machine).
``default_collate`` builds its batch with the type of the first record, so a DataLoader batch of
``Decoded`` records is a ``Decoded`` too.

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
    """``record -> Decoded({name: tensor | bytes})`` for an :class:`~danlu.data.tfrecord.spec.ExampleDecoder`
    of an Example spec: one ``torch.from_numpy`` per numeric feature and nothing else per record.

    The decoder's arrays are always its own writable, contiguous copies (plans, fast paths and the
    full parse alike; tested), so they are handed to torch without a check or a copy.
    """
    import torch

    from_numpy = torch.from_numpy
    nums = tuple(f.name for f in decoder.fields if f.np_dtype is not object)
    strs = tuple(f.name for f in decoder.fields if f.np_dtype is object)

    def convert(record: bytes) -> dict[str, Any]:
        d = Decoded(decoder(record))
        for k in nums:
            d[k] = from_numpy(d[k])
        for k in strs:
            v = d[k]
            d[k] = v.item() if v.ndim == 0 else v.tolist()
        return d

    return convert


#: Tensors up to this size cross a process boundary inside the pickle; larger ones by shared memory.
INLINE_MAX = 4 << 20


class Decoded(dict):
    """A batch (``{name: tensor | array | list}``) that crosses process boundaries as one plain pickle.

    A DataLoader worker hands each tensor to the main process through shared memory: a new shared
    file per tensor and its descriptor passed over a socket, a few ms per tensor on a busy machine,
    more than decoding the batch. A ``Decoded`` pickles its CPU tensors (up to ``INLINE_MAX`` bytes)
    as numpy arrays inside the pickle and rebuilds them as tensors on arrival (``torch.from_numpy``,
    no copy); everything else pickles as usual. Otherwise it is a ``dict``.
    """

    def __reduce__(self):
        import torch

        plain, tensors = {}, []
        for k, v in self.items():
            if (isinstance(v, torch.Tensor) and v.device.type == "cpu" and not v.requires_grad
                    and v.nbytes <= INLINE_MAX):
                try:
                    v = v.contiguous().numpy()
                except (RuntimeError, TypeError):  # a dtype numpy lacks (bfloat16): as usual
                    plain[k] = v
                    continue
                tensors.append(k)
            plain[k] = v
        return _rebuild_decoded, (plain, tuple(tensors))


def _rebuild_decoded(plain: dict, tensors: tuple) -> Decoded:
    import torch

    for k in tensors:
        plain[k] = torch.from_numpy(plain[k])
    return Decoded(plain)


def collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``collate_fn`` for per-record dicts of numpy arrays (``output="numpy"``): each numeric feature
    -> one ``(B, *shape)`` tensor (``numpy.stack`` then ``torch.from_numpy``); bytes features -> a
    list of ``B`` values; features whose shapes differ between records (VarLen) -> a list of tensors.
    Returns a :class:`Decoded` (from a DataLoader worker its tensors travel inside the pickle).
    """
    import torch

    if not batch:
        return Decoded()
    out = Decoded()
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
