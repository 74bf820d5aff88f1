"""Writing TFRecord files (framing + optional whole-stream GZIP/ZLIB), byte-compatible with TensorFlow.

    >>> from danlu.data.tfrecord import TFRecordWriter
    >>> with TFRecordWriter("/tmp/y.tfrecord.gz", compression="gzip") as w:
    ...     w.write(b"hello")

Writes are atomic (:class:`danlu.files.AtomicWrite`): records go to a temporary file beside the
target, renamed onto it when the writer closes; an error inside the ``with`` block removes the
temporary file and leaves any existing file at the path as it was.
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
from danlu.files import AtomicWrite, OutputExistsError

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


class _GzipFile:
    """GZIP stream into ``path`` whose header names ``name`` (the target, not the temporary file)."""

    def __init__(self, path: str, name: str) -> None:
        self._raw = open(path, "wb")  # noqa: SIM115
        self._f = gzip.GzipFile(filename=name, mode="wb", fileobj=self._raw, compresslevel=6, mtime=0)

    def write(self, b: bytes) -> None:
        self._f.write(b)

    def close(self) -> None:
        try:
            self._f.close()
        finally:
            self._raw.close()


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
        path: output file. It appears (or is replaced) only when the writer closes without error.
        compression: ``None``/``"none"``, ``"gzip"``, ``"zlib"``, or ``"auto"`` (from the suffix:
            ``.gz`` -> gzip, ``.zlib``/``.zz`` -> zlib, else none).
        overwrite: replace an existing file at ``path`` (default True, like ``open(path, "wb")``);
            False raises :class:`danlu.files.OutputExistsError` instead.
    """

    def __init__(self, path: str | os.PathLike, compression: str | None = None, *, overwrite: bool = True) -> None:
        self.path = os.fspath(path)
        if isinstance(compression, str) and compression.lower() == "auto":
            low = self.path.lower()
            compression = "gzip" if low.endswith((".gz", ".gzip")) else "zlib" if low.endswith((".zlib", ".zz")) else None
        self.compression = _comp.normalize(compression)
        self._target = AtomicWrite(self.path, overwrite=overwrite)
        if not overwrite and not self._target.direct and os.path.lexists(self.path):
            raise OutputExistsError(f"{self.path!r} already exists; pass overwrite=True to replace it")
        tmp = os.fspath(self._target.tmp)
        if self.compression == "gzip":
            self._f = _GzipFile(tmp, os.path.basename(self.path))
        elif self.compression == "zlib":
            self._f = _ZlibFile(tmp)
        else:
            self._f = open(tmp, "wb", buffering=1 << 20)  # noqa: SIM115
        self.count = 0

    def write(self, record) -> None:
        """Write one record: ``bytes`` or a protobuf message (serialized)."""
        self._f.write(frame(_as_bytes(record)))
        self.count += 1

    def close(self) -> None:
        """Finish the file and move it onto ``path``."""
        if self._f is not None:
            try:
                self._f.close()
            except BaseException:
                self._target.abort()
                raise
            finally:
                self._f = None
            self._target.commit()

    def abort(self) -> None:
        """Drop what was written; ``path`` stays as it was before the writer opened."""
        if self._f is not None:
            try:
                self._f.close()
            finally:
                self._f = None
                self._target.abort()

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_records(path: str | os.PathLike, records: Iterable, compression: str | None = None, *,
                  overwrite: bool = True) -> int:
    """Write all ``records`` (bytes or Example messages) to ``path`` atomically; returns how many."""
    with TFRecordWriter(path, compression, overwrite=overwrite) as w:
        for r in records:
            w.write(r)
        return w.count
