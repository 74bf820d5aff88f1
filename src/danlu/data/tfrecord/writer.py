"""Writing TFRecord files (framing + optional whole-stream GZIP/ZLIB), byte-compatible with TensorFlow.

    >>> from danlu.data.tfrecord import TFRecordWriter
    >>> with TFRecordWriter("/tmp/y.tfrecord.gz", compression="gzip") as w:
    ...     w.write(b"hello")
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from collections.abc import Iterable

from danlu.data.tfrecord import compression as _comp
from danlu.data.tfrecord.crc import masked_crc32c
from danlu.errors import DanluError

_Q = struct.Struct("<Q")
_I = struct.Struct("<I")


def frame(data: bytes) -> bytes:
    """The framed bytes of one record: length, masked CRC of the length, data, masked CRC of the data."""
    head = _Q.pack(len(data))
    return b"".join((head, _I.pack(masked_crc32c(head)), data, _I.pack(masked_crc32c(data))))


def _as_bytes(record) -> bytes:
    if isinstance(record, bytes | bytearray | memoryview):
        return bytes(record)
    if hasattr(record, "SerializeToString"):
        return record.SerializeToString()
    raise DanluError(f"a TFRecord record must be bytes or a protobuf message (Example), got {type(record).__name__}")


class _ZlibFile:
    def __init__(self, path: str) -> None:
        self._f = open(path, "wb")  # noqa: SIM115
        self._c = zlib.compressobj(6, zlib.DEFLATED, zlib.MAX_WBITS)

    def write(self, b: bytes) -> None:
        self._f.write(self._c.compress(b))

    def close(self) -> None:
        self._f.write(self._c.flush())
        self._f.close()


class TFRecordWriter:
    """Append records to a new TFRecord file (context manager).

    Args:
        path: output file (overwritten).
        compression: ``None``/``"none"``, ``"gzip"``, ``"zlib"``, or ``"auto"`` (from the suffix:
            ``.gz`` -> gzip, ``.zlib``/``.zz`` -> zlib, else none).
    """

    def __init__(self, path: str | os.PathLike, compression: str | None = None) -> None:
        self.path = os.fspath(path)
        if isinstance(compression, str) and compression.lower() == "auto":
            low = self.path.lower()
            compression = "gzip" if low.endswith((".gz", ".gzip")) else "zlib" if low.endswith((".zlib", ".zz")) else None
        self.compression = _comp.normalize(compression)
        if self.compression == "gzip":
            self._f = gzip.GzipFile(self.path, "wb", compresslevel=6, mtime=0)
        elif self.compression == "zlib":
            self._f = _ZlibFile(self.path)
        else:
            self._f = open(self.path, "wb", buffering=1 << 20)  # noqa: SIM115
        self.count = 0

    def write(self, record) -> None:
        """Write one record: ``bytes`` or a protobuf message (serialized)."""
        self._f.write(frame(_as_bytes(record)))
        self.count += 1

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_records(path: str | os.PathLike, records: Iterable, compression: str | None = None) -> int:
    """Write all ``records`` (bytes or Example messages) to ``path``; returns how many."""
    with TFRecordWriter(path, compression) as w:
        for r in records:
            w.write(r)
        return w.count
