"""PyTorch datasets over TFRecord shards: a streaming IterableDataset and a map-style indexed Dataset.

:class:`TFRecordDataset` splits the records among all consumers, ``K = world_size * num_workers``
(DDP ranks times DataLoader workers), so that each record is read exactly once per epoch:

* ``split="records"`` (default): the records of all shards, in order, form one list of ``N``;
  consumer ``c = rank * num_workers + worker_id`` reads the contiguous slice
  ``[c*N//K, (c+1)*N//K)``, seeking into the shards by their index (balanced to one record).
  The index comes from ``index_paths`` or from a header scan (12 bytes read per record) the first
  time it is needed; a lone consumer (``K == 1``) reads every shard whole and needs none.
* ``split="shards"``: consumer ``c`` reads whole shards ``c, c+K, c+2K, ...`` (no index needed; as
  balanced as the shard sizes).

The ``tfrecord`` package gives every DataLoader worker every shard unless the user splits them,
and ignores DDP ranks; here both are split by default. The optional shuffle buffer is seeded by
``(seed, epoch, consumer)``; call :meth:`TFRecordDataset.set_epoch` each epoch.

    >>> ds = TFRecordDataset(["a.tfrecord", "b.tfrecord"], decode={"x": FixedLenFeature([2], "float32")})
    >>> loader = torch.utils.data.DataLoader(ds, batch_size=32, num_workers=2)   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, IterableDataset, get_worker_info

from danlu.data.tfrecord import compression as _comp
from danlu.data.tfrecord.convert import Decoded, record_to_torch, to_torch
from danlu.data.tfrecord.crc import crc32c, unmask_crc
from danlu.data.tfrecord.errors import CorruptRecordError
from danlu.data.tfrecord.index import build_index, read_index
from danlu.data.tfrecord.reader import FOOTER, HEADER, read_records
from danlu.data.tfrecord.spec import ExampleDecoder
from danlu.errors import DanluError


def _decoder(decode: Any, output: str) -> Callable[[bytes], Any]:
    if output not in ("numpy", "torch"):
        raise DanluError(f"output must be 'numpy' or 'torch', got {output!r}")
    if decode is None:
        fn = bytes
    elif isinstance(decode, Mapping):
        fn = ExampleDecoder(decode)
    elif callable(decode):
        fn = decode
    else:
        raise DanluError(f"decode must be None (raw bytes), a feature spec dict or a callable, got {type(decode).__name__}")
    if output == "torch" and decode is not None:
        if isinstance(fn, ExampleDecoder) and fn.seq_fields is None:
            out = record_to_torch(fn)  # one torch.from_numpy per numeric feature, bytes as bytes
        else:
            def out(r):
                return to_torch(fn(r))
    elif isinstance(decode, Mapping):
        def out(r):
            return Decoded(fn(r))  # out of a DataLoader worker: one plain pickle (convert.py)
    else:
        return fn
    out.decoder = fn  # the ExampleDecoder (or the user's callable) underneath
    return out


def _paths(paths: str | os.PathLike | Sequence) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    out = [os.fspath(p) for p in paths]
    if not out:
        raise DanluError("no TFRecord files given")
    for p in out:
        if not os.path.isfile(p):
            raise FileNotFoundError(2, "No such file", p)
    return out


def _indexes(paths: list[str], index_paths: Sequence | None, compression: str | None) -> list[np.ndarray]:
    if index_paths is None:
        return [build_index(p, compression=compression) for p in paths]
    if len(index_paths) != len(paths):
        raise DanluError(f"got {len(index_paths)} index files for {len(paths)} TFRecord files")
    return [read_index(i) for i in index_paths]


def consumer_slot(rank: int | None = None, world_size: int | None = None) -> tuple[int, int]:
    """``(consumer id, number of consumers)`` for this process: DDP rank x DataLoader worker.

    ``rank``/``world_size`` default to ``torch.distributed``'s when it is initialized, else 0/1.
    """
    if rank is None or world_size is None:
        dist = torch.distributed
        if dist.is_available() and dist.is_initialized():
            rank, world_size = dist.get_rank(), dist.get_world_size()
        else:
            rank, world_size = 0, 1
    if not 0 <= rank < world_size:
        raise DanluError(f"rank must be in [0, world_size={world_size}), got {rank}")
    info = get_worker_info()
    wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
    return rank * nw + wid, world_size * nw


class TFRecordDataset(IterableDataset):
    """Stream records from many TFRecord shards, each exactly once per epoch across workers and ranks.

    Args:
        paths: one file or a list of shards.
        decode: None (raw ``bytes``), a feature spec ``{name: FixedLenFeature(...)}`` (-> dict of
            arrays), or any callable on the record bytes.
        index_paths: index files, one per shard (``split="records"`` builds them in memory, when first
            needed, if absent).
        compression: ``"auto"``, None, ``"gzip"``, ``"zlib"``.
        verify: check CRCs (default True).
        shuffle_buffer: size of the shuffle buffer (0: file order).
        seed: shuffle seed; the stream is ``f(seed, epoch, consumer)``.
        split: ``"records"`` or ``"shards"`` (see the module docstring).
        rank, world_size: DDP position (default: from ``torch.distributed`` if initialized).
        output: ``"numpy"`` or ``"torch"`` (decoded arrays as tensors).
        batch_size: with a feature-spec ``decode``, yield batches of this many records decoded at
            once (``ExampleDecoder.decode_batch``: stacked ``(B, *shape)`` arrays, much faster);
            use ``DataLoader(ds, batch_size=None)``. The last batch may be smaller.
    """

    def __init__(self, paths, *, decode: Any = None, index_paths: Sequence | None = None,
                 compression: str | None = "auto", verify: bool = True, shuffle_buffer: int = 0, seed: int = 0,
                 split: str = "records", rank: int | None = None, world_size: int | None = None,
                 output: str = "numpy", batch_size: int | None = None) -> None:
        super().__init__()
        if batch_size is not None:
            if not isinstance(decode, Mapping):
                raise DanluError("batch_size needs decode to be a feature spec dict (it batches the parsing)")
            if batch_size < 1:
                raise DanluError(f"batch_size must be >= 1, got {batch_size}")
            batch_dec = ExampleDecoder(decode).decode_batch
            # a Decoded: out of a DataLoader worker its tensors travel inside the pickle (convert.py)
            self._batch = ((lambda rs: Decoded(to_torch(batch_dec(rs)))) if output == "torch"
                           else (lambda rs: Decoded(batch_dec(rs))))
        self.batch_size = batch_size
        self.paths = _paths(paths)
        if split not in ("records", "shards"):
            raise DanluError(f"split must be 'records' or 'shards', got {split!r}")
        if shuffle_buffer < 0:
            raise DanluError(f"shuffle_buffer must be >= 0, got {shuffle_buffer}")
        self.compressions = [_comp.resolve(p, compression) for p in self.paths]
        self.decode = _decoder(decode, output)
        self.verify, self.shuffle_buffer, self.seed, self.split = verify, shuffle_buffer, seed, split
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._compression = compression
        # index files are read now; a missing index is built by a header scan when first needed (more
        # than one consumer, or num_records): a single consumer reads every shard whole without one
        self._indexes = (_indexes(self.paths, index_paths, compression)
                         if split == "records" and index_paths is not None else None)

    @property
    def indexes(self) -> list[np.ndarray] | None:
        """Per shard ``(records, 2)`` (offset, frame length) arrays (``split="records"``; built on first use)."""
        if self.split != "records":
            return None
        if self._indexes is None:
            self._indexes = _indexes(self.paths, None, self._compression)
        return self._indexes

    @property
    def num_records(self) -> int | None:
        """Total records over all shards (known for ``split="records"``)."""
        return None if self.indexes is None else int(sum(len(i) for i in self.indexes))

    def set_epoch(self, epoch: int) -> None:
        """Change the shuffle order for a new epoch (same order for the same epoch)."""
        self.epoch = int(epoch)

    def _pieces(self, cid: int, k: int) -> list[tuple[int, int, int | None]]:
        """(file, start byte, stop byte) pieces this consumer reads."""
        if self.split == "shards" or (k == 1 and self._indexes is None):
            return [(j, 0, None) for j in range(cid, len(self.paths), k)]
        counts = np.array([len(i) for i in self.indexes])
        starts = np.concatenate([[0], np.cumsum(counts)])
        n = int(starts[-1])
        lo, hi = cid * n // k, (cid + 1) * n // k
        out = []
        for j, idx in enumerate(self.indexes):
            a, b = max(lo, starts[j]) - starts[j], min(hi, starts[j + 1]) - starts[j]
            if a < b:
                out.append((j, int(idx[a, 0]), int(idx[b - 1, 0] + idx[b - 1, 1])))
        return out

    def _records(self, pieces) -> Iterator[bytes]:
        for j, start, stop in pieces:
            yield from read_records(self.paths[j], compression=self.compressions[j], verify=self.verify,
                                    start=start, stop=stop)

    def __iter__(self) -> Iterator[Any]:
        # not a generator itself: one level of delegation less per record
        return self._iter_records() if self.batch_size is None else self._iter_batches()

    def _iter_batches(self) -> Iterator[Any]:
        it, bs, batch = self._iter_records(raw=True), self.batch_size, self._batch
        while buf := list(itertools.islice(it, bs)):
            yield batch(buf)

    def _iter_records(self, raw: bool = False) -> Iterator[Any]:
        cid, k = consumer_slot(self.rank, self.world_size)
        pieces = self._pieces(cid, k)
        decode = None if raw else self.decode
        if not self.shuffle_buffer:
            for j, start, stop in pieces:
                recs = read_records(self.paths[j], compression=self.compressions[j], verify=self.verify,
                                    start=start, stop=stop)
                yield from (recs if decode is None or decode is bytes else map(decode, recs))
            return
        decode = decode or bytes
        rng = np.random.default_rng([self.seed, self.epoch, cid])
        if self.split == "shards":
            pieces = [pieces[i] for i in rng.permutation(len(pieces))]
        buf: list[bytes] = []
        for r in self._records(pieces):
            if len(buf) < self.shuffle_buffer:
                buf.append(r)
                continue
            i = int(rng.integers(len(buf)))
            buf[i], r = r, buf[i]
            yield decode(r)
        for i in rng.permutation(len(buf)):
            yield decode(buf[i])


class TFRecordIndexedDataset(Dataset):
    """Random access to the records of indexed TFRecord files (a map-style Dataset).

    ``ds[i]`` reads record ``i`` (over all files in order) with one ``pread`` (uncompressed), or
    from the decompressed file kept in memory (GZIP/ZLIB: decompressed once per process on first
    access). CRCs are checked unless ``verify=False``.

    Args:
        paths, decode, compression, verify, output: as :class:`TFRecordDataset`.
        index_paths: index files, one per file; built by a scan if absent.
    """

    def __init__(self, paths, *, decode: Any = None, index_paths: Sequence | None = None,
                 compression: str | None = "auto", verify: bool = True, output: str = "numpy") -> None:
        self.paths = _paths(paths)
        self.compressions = [_comp.resolve(p, compression) for p in self.paths]
        self.indexes = _indexes(self.paths, index_paths, compression)
        self.starts = np.concatenate([[0], np.cumsum([len(i) for i in self.indexes])]).astype(np.int64)
        self.decode = _decoder(decode, output)
        self.verify = verify
        self._pid = None
        self._fds: dict[int, int] = {}
        self._blobs: dict[int, bytes] = {}

    def __len__(self) -> int:
        return int(self.starts[-1])

    def _frame(self, j: int, off: int, n: int) -> bytes:
        if self._pid != os.getpid():  # after a fork (DataLoader worker) open our own descriptors
            self._pid, self._fds, self._blobs = os.getpid(), {}, {}
        if self.compressions[j] is None:
            if j not in self._fds:
                self._fds[j] = os.open(self.paths[j], os.O_RDONLY)
            return os.pread(self._fds[j], n, off)
        if j not in self._blobs:
            self._blobs[j] = b"".join(read_records_raw_stream(self.paths[j], self.compressions[j]))
        return self._blobs[j][off:off + n]

    def raw(self, i: int) -> bytes:
        """The bytes of record ``i`` (CRC-checked unless ``verify=False``)."""
        if not -len(self) <= i < len(self):
            raise IndexError(f"record {i} out of range for {len(self)} records")
        i %= len(self)
        j = int(np.searchsorted(self.starts, i, side="right") - 1)
        off, n = (int(v) for v in self.indexes[j][i - self.starts[j]])
        b = self._frame(j, off, n)
        path = self.paths[j]
        if len(b) != n or n < HEADER + FOOTER:
            raise CorruptRecordError(path, off, f"index says {n} bytes, file has {len(b)} there")
        length = int.from_bytes(b[:8], "little")
        if length != n - HEADER - FOOTER:
            raise CorruptRecordError(path, off, f"index/file mismatch: frame length {length}, index says {n - 16}")
        data = b[HEADER:n - FOOTER]
        if self.verify:
            if unmask_crc(int.from_bytes(b[8:12], "little")) != crc32c(b[:8]):
                raise CorruptRecordError(path, off, "length CRC mismatch")
            if unmask_crc(int.from_bytes(b[n - FOOTER:], "little")) != crc32c(data):
                raise CorruptRecordError(path, off, f"data CRC mismatch ({length}-byte record)")
        return data

    def __getitem__(self, i: int) -> Any:
        return self.decode(self.raw(i))

    def __del__(self) -> None:
        for fd in getattr(self, "_fds", {}).values():
            with contextlib.suppress(OSError):
                os.close(fd)


def read_records_raw_stream(path: str, compression: str) -> Iterator[bytes]:
    """The decompressed bytes of a GZIP/ZLIB file, in pieces."""
    with open(path, "rb", buffering=0) as f:
        yield from _comp.decompressed_chunks(f, path, compression, [0])
