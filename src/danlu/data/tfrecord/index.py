"""Index files for TFRecord: one ``offset length`` line per record (the ``tfrecord`` package's format).

``offset`` is where the record's frame starts and ``length`` the whole frame (12-byte header +
data + 4-byte CRC), so an index written by danlu is read by ``tfrecord`` and vice versa. For
GZIP/ZLIB files the offsets count bytes of the decompressed stream (the index is built by
decompressing; random access then decompresses the file once).

    >>> from danlu.data.tfrecord import build_index, write_records
    >>> write_records("/tmp/z.tfrecord", [b"a", b"bcd"])
    2
    >>> build_index("/tmp/z.tfrecord").tolist()
    [[0, 17], [17, 19]]
"""

from __future__ import annotations

import os
import struct

import numpy as np

from danlu.data.tfrecord import compression as _comp
from danlu.data.tfrecord.crc import crc32c, unmask_crc
from danlu.data.tfrecord.errors import CorruptRecordError
from danlu.data.tfrecord.reader import FOOTER, HEADER, _frames
from danlu.errors import DanluError

_LEN = struct.Struct("<QI")


#: Header hops within this many bytes read one piece (many small frames per read); past a larger
#: frame the scan reads just the next 12-byte header.
SCAN_PIECE = 1 << 16


def _scan_uncompressed(path: str, verify: bool) -> np.ndarray:
    """Offsets by hopping from header to header: small frames from 64 KiB pieces, a header after a
    large frame by one 12-byte read (the data itself is not read). Length CRCs are checked (cached
    per length: many records share one)."""
    size = os.path.getsize(path)
    offs: list[int] = []
    tots: list[int] = []
    len_crc: dict[int, int] = {}
    unpack = _LEN.unpack_from
    off = base = total = 0
    buf = b""
    with open(path, "rb", buffering=0) as f:
        while off < size:
            i = off - base
            if i + HEADER > len(buf):
                f.seek(off)
                buf, base, i = f.read(HEADER if total > SCAN_PIECE // 4 else SCAN_PIECE), off, 0
                if len(buf) < HEADER:
                    raise CorruptRecordError(path, off, f"truncated file: {len(buf)} byte(s) where a record header "
                                             "should be")
            length, lcrc = unpack(buf, i)
            if len_crc.get(length) != lcrc:
                if unmask_crc(lcrc) != crc32c(buf[i:i + 8]):
                    raise CorruptRecordError(path, off, f"length CRC mismatch (length field reads {length})")
                if len(len_crc) > 4096:
                    len_crc.clear()
                len_crc[length] = lcrc
            total = HEADER + length + FOOTER
            if off + total > size:
                raise CorruptRecordError(path, off, f"truncated record: frame needs {total} bytes, file has {size - off} left")
            offs.append(off)
            tots.append(total)
            off += total
    return np.array([offs, tots], dtype=np.int64).T.reshape(-1, 2).copy()


def build_index(path: str | os.PathLike, *, compression: str | None = "auto", verify_data: bool = False) -> np.ndarray:
    """Scan a file and return its index, an ``(N, 2)`` int64 array of ``(offset, frame_length)``.

    Length CRCs are always checked (a bad one means the frames cannot be located). With
    ``verify_data=True`` the data CRCs are checked too (reads every byte). Raises
    :class:`CorruptRecordError` on damage.
    """
    path = os.fspath(path)
    comp = _comp.resolve(path, compression)
    if comp is None and not verify_data:
        return _scan_uncompressed(path, True)
    rows = []
    for off, data, problem in _frames(path, comp, verify=True):
        if problem is not None and (problem.fatal or verify_data):
            raise CorruptRecordError(path, problem.offset, problem.reason)
        rows.append((off, HEADER + len(data) + FOOTER))
    return np.asarray(rows, dtype=np.int64).reshape(-1, 2)


def write_index(index: np.ndarray, index_path: str | os.PathLike) -> None:
    """Write an index as text lines ``offset length``."""
    with open(index_path, "w") as f:
        f.writelines(f"{int(o)} {int(n)}\n" for o, n in np.asarray(index).reshape(-1, 2))


def read_index(index_path: str | os.PathLike) -> np.ndarray:
    """Read an index file written by :func:`write_index` (or by ``tfrecord.tools.create_index``)."""
    if os.path.getsize(index_path) == 0:  # the index of an empty file
        return np.zeros((0, 2), dtype=np.int64)
    try:
        arr = np.loadtxt(index_path, dtype=np.int64, ndmin=2)
    except ValueError as exc:
        raise DanluError(f"{os.fspath(index_path)}: not an index file of 'offset length' lines ({exc})") from None
    if arr.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    if arr.shape[1] != 2:
        raise DanluError(f"{os.fspath(index_path)}: expected 2 columns (offset length), got {arr.shape[1]}")
    return arr


def create_index(path: str | os.PathLike, index_path: str | os.PathLike | None = None, *,
                 compression: str | None = "auto") -> np.ndarray:
    """Build the index of ``path`` and write it to ``index_path`` (default ``path + ".index"``)."""
    idx = build_index(path, compression=compression)
    write_index(idx, index_path if index_path is not None else os.fspath(path) + ".index")
    return idx


def count_records(path: str | os.PathLike, *, index_path: str | os.PathLike | None = None,
                  compression: str | None = "auto") -> int:
    """Number of records: from the index file if given, else by a header scan."""
    if index_path is not None:
        return len(read_index(index_path))
    return len(build_index(path, compression=compression))
