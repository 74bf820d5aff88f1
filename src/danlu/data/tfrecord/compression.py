"""Whole-stream compression of TFRecord files: none, GZIP, ZLIB (TensorFlow's ``compression_type``).

TensorFlow compresses the whole file (not each record): ``GZIP`` is an RFC 1952 gzip stream,
``ZLIB`` an RFC 1950 zlib stream. Record offsets in a compressed file count bytes of the
*decompressed* stream. Reading detects the compression from the file (see :func:`detect`) unless
it is given.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Iterator

from danlu.data.tfrecord.crc import masked_crc32c
from danlu.data.tfrecord.errors import CorruptRecordError
from danlu.errors import DanluError

#: Accepted names (case-insensitive; TensorFlow spells them "", "GZIP", "ZLIB").
_ALIASES = {"": None, "none": None, "gzip": "gzip", "gz": "gzip", "zlib": "zlib"}
CHUNK = 1 << 22  # 4 MiB reads


def normalize(compression: str | None) -> str | None:
    """``None``/``"none"``/``""`` -> None, ``"GZIP"`` -> ``"gzip"``, ``"ZLIB"`` -> ``"zlib"``."""
    if compression is None:
        return None
    key = str(compression).strip().lower()
    if key not in _ALIASES:
        raise DanluError(f"unknown compression {compression!r}; expected one of: none, gzip, zlib (or auto)")
    return _ALIASES[key]


def detect(path: str | os.PathLike, head: bytes | None = None) -> str | None:
    """Guess the compression of a TFRecord file from its first bytes.

    An uncompressed file starts with a record header whose length CRC checks out (a false match
    has probability 2**-32); otherwise the gzip magic ``1f 8b`` means GZIP and a valid zlib
    header (``CMF*256+FLG`` divisible by 31, deflate method) means ZLIB. An empty file, or one
    that matches nothing, is read as uncompressed (and reading then reports what is wrong).
    """
    if head is None:
        with open(path, "rb") as f:
            head = f.read(12)
    if len(head) >= 12 and struct.unpack_from("<I", head, 8)[0] == masked_crc32c(head[:8]):
        return None
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if len(head) >= 2 and head[0] & 0x0F == 8 and (head[0] * 256 + head[1]) % 31 == 0:
        return "zlib"
    return None


def resolve(path: str | os.PathLike, compression: str | None) -> str | None:
    """``compression`` normalized, with ``"auto"`` replaced by :func:`detect`."""
    if isinstance(compression, str) and compression.strip().lower() == "auto":
        return detect(path)
    return normalize(compression)


def raw_chunks(f, start: int = 0, stop: int | None = None, chunk: int = CHUNK) -> Iterator[bytes]:
    """Plain reads of ``f`` from byte ``start`` to ``stop`` (end of file if None)."""
    f.seek(start)
    left = None if stop is None else stop - start
    while left is None or left > 0:
        b = f.read(chunk if left is None else min(chunk, left))
        if not b:
            return
        if left is not None:
            left -= len(b)
        yield b


def decompressed_chunks(f, path: str, compression: str, out_pos: list[int], chunk: int = CHUNK) -> Iterator[bytes]:
    """Decompress a gzip (possibly multi-member) or zlib stream in pieces of at most ``chunk`` bytes.

    ``out_pos[0]`` is kept at the number of decompressed bytes produced so far, so that a
    decompression error can be reported at a decompressed offset. Raises
    :class:`CorruptRecordError` for a damaged stream or one that ends before its end marker.
    """
    wbits = 16 + zlib.MAX_WBITS if compression == "gzip" else zlib.MAX_WBITS
    name = "gzip" if compression == "gzip" else "zlib"
    d = zlib.decompressobj(wbits)
    started = False  # the current member has consumed input
    while True:
        data = f.read(chunk)
        if not data:
            break
        while True:
            started = started or bool(data)
            try:
                out = d.decompress(data, chunk)
            except zlib.error as exc:
                raise CorruptRecordError(path, out_pos[0], f"{name} stream is damaged ({exc}); "
                                         "offset is in the decompressed stream") from None
            data = d.unconsumed_tail
            if out:
                out_pos[0] += len(out)
                yield out
            if d.eof:
                rest = d.unused_data
                d, started = zlib.decompressobj(wbits), False
                if compression == "zlib" and rest:
                    raise CorruptRecordError(path, out_pos[0], "zlib stream has trailing bytes after its end")
                data = rest  # gzip: the next member (concatenated gzip files are one stream)
            elif not data and len(out) < chunk:
                break
    if started and not d.eof:
        raise CorruptRecordError(path, out_pos[0], f"{name} stream ended before its end marker (truncated file); "
                                 "offset is in the decompressed stream")
