"""Reading TFRecord frames: ``uint64 length | uint32 masked_crc(length) | data | uint32 masked_crc(data)``.

All integers little-endian (``tensorflow/core/lib/io/record_reader.cc``). The reader pulls the
(decompressed) stream in 1 MiB pieces and cuts records out of them as `bytes` slices, checking both CRCs with
``google-crc32c`` unless ``verify=False``.

    >>> from danlu.data.tfrecord import read_records, write_records
    >>> write_records("/tmp/x.tfrecord", [b"a", b"bc"])
    2
    >>> list(read_records("/tmp/x.tfrecord"))
    [b'a', b'bc']

Damage is reported as :class:`CorruptRecordError` naming the file, the byte offset of the record
and what is wrong. With ``verify=False`` nothing is checked and a truncated file or a broken
compressed tail ends the iteration quietly after the last whole record ("read what you can").
"""

from __future__ import annotations

import os
import struct
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from danlu.data.tfrecord import compression as _comp
from danlu.data.tfrecord.crc import crc32c, crc32c_value, masked_crc32c, unmask_crc
from danlu.data.tfrecord.errors import CorruptRecordError

HEADER = 12  # uint64 length + uint32 masked crc
FOOTER = 4  # uint32 masked crc of the data
_LEN = struct.Struct("<QI")
_U32 = struct.Struct("<I")
_Q = struct.Struct("<Q")


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`scan_records`: what is wrong with the frame at ``offset``.

    ``fatal`` problems (bad length CRC, truncation, damaged stream) stop the scan, since the
    frames after them cannot be located; a bad data CRC does not.
    """

    path: str
    offset: int
    reason: str
    fatal: bool

    def __str__(self) -> str:
        return f"{self.path}: offset {self.offset}: {self.reason}"


def _chunks(path: str, compression: str | None, start: int, stop: int | None, pos: list[int]) -> Iterator[bytes]:
    with open(path, "rb", buffering=0) as f:
        if compression is None:
            yield from _comp.raw_chunks(f, start, stop)
        else:
            yield from _comp.decompressed_chunks(f, path, compression, pos)


def _frames(path: str, compression: str | None, verify: bool, start: int = 0,
            stop: int | None = None) -> Iterator[tuple[int, bytes | None, Problem | None]]:
    """Yield ``(offset, data, problem)`` for each frame from ``start`` up to ``stop``.

    ``problem`` is None for a good frame. For compressed files ``start``/``stop`` are offsets
    in the decompressed stream and the stream is decompressed from its beginning.
    """
    pos = [0]
    it = _chunks(path, compression, start if compression is None else 0, stop if compression is None else None, pos)
    buf = b""
    i = 0  # position in buf
    base = start if compression is None else 0  # stream offset of buf[0]
    skip = 0 if compression is None else start
    size = os.path.getsize(path) if compression is None else None
    eof = False

    def fill(need: int) -> bool:
        nonlocal buf, i, base, eof
        parts = [buf[i:]]
        have = len(parts[0])
        while have < need and not eof:
            try:
                b = next(it)
            except StopIteration:
                eof = True
                break
            parts.append(b)
            have += len(b)
        base += i
        buf, i = b"".join(parts), 0
        return have >= need

    while True:
        if stop is not None and base + i >= stop:
            return
        if len(buf) - i < HEADER:
            try:
                ok = fill(HEADER)
            except CorruptRecordError as exc:
                yield exc.offset, None, Problem(path, exc.offset, exc.reason, True)
                return
            if not ok:
                left = len(buf) - i
                if left:
                    yield base + i, None, Problem(path, base + i, f"truncated file: {left} byte(s) where a "
                                                  f"{HEADER}-byte record header should be", True)
                return
        off = base + i
        length, lcrc = _LEN.unpack_from(buf, i)
        if verify and unmask_crc(lcrc) != crc32c(buf[i:i + 8]):
            yield off, None, Problem(path, off, f"length CRC mismatch (length field reads {length}); "
                                     "the frames after this point cannot be located", True)
            return
        total = HEADER + length + FOOTER
        if size is not None and off + total > size:
            yield off, None, Problem(path, off, f"truncated record: frame needs {total} bytes, file has "
                                     f"{size - off} left", True)
            return
        if len(buf) - i < total:
            try:
                ok = fill(total)
            except CorruptRecordError as exc:
                yield exc.offset, None, Problem(path, exc.offset, exc.reason, True)
                return
            if not ok:
                yield off, None, Problem(path, off, f"truncated record: frame needs {total} bytes, stream has "
                                         f"{len(buf) - i} left", True)
                return
        if off < skip:  # compressed stream: decompress up to `start`
            i += total
            continue
        data = buf[i + HEADER:i + HEADER + length]
        i += total
        if verify:
            (dcrc,) = _U32.unpack_from(buf, i - FOOTER)
            if unmask_crc(dcrc) != crc32c(data):
                yield off, data, Problem(path, off, f"data CRC mismatch ({length}-byte record)", False)
                continue
        yield off, data, None


#: Piece size of the hot reader. Pieces of 4 MiB are freshly mapped memory each time (a page fault
#: every 4 KiB, ~2x slower per record); 1 MiB pieces come from reused heap memory.
PIECE = 1 << 20


class _Buffer:
    """An immutable ``bytes`` window over the (decompressed) stream: records are plain ``bytes`` slices
    of it (one copy, no memoryview), refilled piece by piece."""

    def __init__(self, f, compression: str | None, path: str, start: int, stop: int | None) -> None:
        self.f, self.comp = f, compression
        self.buf = b""
        self.n = self.i = 0
        self.base = start if compression is None else 0  # stream offset of buf[0]
        if compression is None:
            f.seek(start)
            self.left = None if stop is None else stop - start  # bytes until `stop`
        else:
            self.it = _comp.decompressed_chunks(f, path, compression, [0], PIECE)

    def fill(self, need: int) -> bool:
        """Make ``n - i >= need`` (dropping the consumed bytes); False if the stream ends before."""
        parts = [self.buf[self.i:]] if self.i < self.n else []
        have = self.n - self.i
        ok = True
        while have < need:
            if self.comp is None:  # a frame across pieces: read just its rest (a small join), then whole pieces
                k = need - have if have else max(PIECE, need)
                if self.left is not None:
                    k = min(k, self.left)
                b = self.f.read(k) if k > 0 else b""
                if self.left is not None:
                    self.left -= len(b)
            else:
                b = next(self.it, b"")  # may raise CorruptRecordError
            if not b:
                ok = False
                break
            parts.append(b)
            have += len(b)
        self.base += self.i
        self.buf = parts[0] if len(parts) == 1 else b"".join(parts)
        self.n, self.i = len(self.buf), 0
        return ok


def _fast(path: str, compression: str | None, verify: bool, start: int, stop: int | None,
          with_offsets: bool) -> Iterator:
    """The hot loop: cut records out of a reusable buffer, both CRCs checked inline.

    On anything unusual (a CRC mismatch, a short read, a damaged stream) it hands over to the
    careful :func:`_frames` from the offending frame, which names the problem.
    """
    crc, unpack_len, unpack_u32 = crc32c_value, _LEN.unpack_from, _U32.unpack_from
    len_crc: dict[int, int] = {}
    skip = 0 if compression is None else start
    size = os.path.getsize(path) if compression is None else None
    limit = size if stop is None or size is None else min(size, stop)
    with open(path, "rb", buffering=0) as f:
        b = _Buffer(f, compression, path, start, stop)
        simple = not with_offsets and not skip
        while True:
            if simple:  # tight loop over the whole records already in the buffer (and before `stop`)
                i, n, buf = b.i, b.n, b.buf
                if stop is not None and b.base + n > stop:
                    n = max(stop - b.base, i)
                while n - i >= HEADER:
                    length, lcrc = unpack_len(buf, i)
                    end = i + HEADER + length + FOOTER
                    if end > n or (verify and len_crc.get(length) != lcrc):
                        break  # needs a refill, a new length, or a closer look: the general step below
                    data = buf[i + HEADER:end - FOOTER]
                    if verify:
                        m = crc(data)
                        if ((((((m >> 15) | (m << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF)
                                != unpack_u32(buf, end - FOOTER)[0]):
                            break
                    i = end
                    yield data
                b.i = i
            if stop is not None and b.base + b.i >= stop:
                return
            if b.n - b.i < HEADER:
                try:
                    ok = b.fill(HEADER)
                except CorruptRecordError:
                    break
                if not ok:
                    if b.n - b.i:
                        break  # leftover bytes: truncated
                    return
            i, buf = b.i, b.buf
            length, lcrc = unpack_len(buf, i)
            if verify:
                # the length's CRC depends only on the length: cache it (records often share sizes)
                want = len_crc.get(length)
                if want is None:
                    want = masked_crc32c(_Q.pack(length))
                    if len(len_crc) > 4096:
                        len_crc.clear()
                    len_crc[length] = want
                if want != lcrc:
                    break
            end = i + HEADER + length + FOOTER
            if end > b.n:
                if limit is not None and b.base + end > limit:
                    break  # truncated file
                try:
                    ok = b.fill(end - i)
                except CorruptRecordError:
                    break
                if not ok:
                    break
                i, buf = b.i, b.buf
                end = i + HEADER + length + FOOTER
            data = buf[i + HEADER:end - FOOTER]
            if verify:
                m = crc(data)
                if (((((m >> 15) | (m << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF) != unpack_u32(buf, end - FOOTER)[0]:
                    break
            off = b.base + i
            b.i = end
            if off < skip:
                continue
            yield (off, data) if with_offsets else data
        bad = b.base + b.i
    # something is wrong at `bad`: let the careful reader find and report it
    for off, data, problem in _frames(path, compression, verify, bad, stop):
        if problem is not None:
            if verify:
                raise CorruptRecordError(path, problem.offset, problem.reason)
            warnings.warn(f"stopped reading: {problem}", stacklevel=3)
            return
        yield (off, data) if with_offsets else data


def read_records(path: str | os.PathLike, *, compression: str | None = "auto", verify: bool = True,
                 start: int = 0, stop: int | None = None, with_offsets: bool = False) -> Iterator:
    """Yield the records (``bytes``) of one TFRecord file.

    Args:
        path: the file.
        compression: ``"auto"`` (detect), ``None``/``"none"``, ``"gzip"`` or ``"zlib"``.
        verify: check both CRCs of every frame (default); ``False`` skips the checks and stops
            quietly (with a warning) at a truncated or damaged end.
        start, stop: byte range of frames to read (offsets from an index; decompressed offsets
            for compressed files).
        with_offsets: yield ``(offset, record)`` pairs instead of records.

    Raises:
        CorruptRecordError: (with ``verify=True``) the first damaged frame: file, offset, reason.
    """
    path = os.fspath(path)
    comp = _comp.resolve(path, compression)
    return _fast(path, comp, verify, start, stop, with_offsets)


def scan_records(path: str | os.PathLike, *, compression: str | None = "auto") -> Iterator[tuple[int, int, Problem | None]]:
    """Check every frame of a file: yield ``(offset, data_length, problem_or_None)``.

    Continues past a bad data CRC (the next frame is still located by the length) and stops at
    a fatal problem (bad length CRC, truncation, damaged compressed stream).
    """
    path = os.fspath(path)
    comp = _comp.resolve(path, compression)
    for off, data, problem in _frames(path, comp, True):
        yield off, (len(data) if data is not None else -1), problem
