"""Protobuf wire-format helpers for the fast Example decoding path (see :mod:`.spec`).

A serialized ``tensorflow.Feature`` is ``tag | varint len | (0x0a | varint len | payload)``, with
the tag 0x0a (bytes_list), 0x12 (float_list) or 0x1a (int64_list); the payload is one bytes value
or the packed floats / varints. These helpers find that payload and decode varints (one by one,
or vectorised over a batch with numpy). Anything else raises ``ValueError`` and the caller falls
back to the full protobuf parse.
"""

from __future__ import annotations

import numpy as np

F32 = np.dtype("<f4")


def not_fast(fb):
    raise ValueError


def varint(b: bytes, i: int) -> tuple[int, int]:
    """Decode a protobuf varint at ``b[i]``: ``(value, next index)``."""
    shift = result = 0
    while True:
        c = b[i]
        i += 1
        result |= (c & 0x7F) << shift
        if c < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def varints(b: bytes, i: int, end: int) -> list[int]:
    """All varints in ``b[i:end]`` as signed int64 (protobuf int64 is two's complement in 10 bytes)."""
    out = []
    while i < end:
        v, i = varint(b, i)
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    if i != end:
        raise ValueError
    return out


def feature_payload(fb: bytes, tag: int) -> tuple[int, int]:
    """The byte range of the one packed (or one bytes) value of a serialized Feature whose list field
    has tag byte ``tag`` (0x0a bytes_list, 0x12 float_list, 0x1a int64_list). Raises on any other shape."""
    if fb[0] != tag:
        raise ValueError
    n, i = fb[1], 2
    if n >= 0x80:  # 2-byte lengths inline (up to 16 KiB), longer ones by the loop
        n, i = ((n & 0x7F) | (fb[2] << 7), 3) if fb[2] < 0x80 else varint(fb, 1)
    end = len(fb)
    if i + n != end:
        raise ValueError
    if n == 0:
        return i, i
    if fb[i] != 0x0A:  # field 1, length-delimited: the packed values / the bytes value
        raise ValueError
    m, j = fb[i + 1], i + 2
    if m >= 0x80:
        m, j = ((m & 0x7F) | (fb[i + 2] << 7), i + 3) if fb[i + 2] < 0x80 else varint(fb, i + 1)
    if j + m != end:  # more than one chunk / value: let the full parser handle it
        raise ValueError
    return j, end


def bytes_spans(b: bytes, i: int, end: int) -> list[tuple[int, int]]:
    """The byte ranges of the values of a ``BytesList`` body ``b[i:end]`` (each value is field 1,
    length-delimited: ``0x0a | varint len | value``). Raises ``ValueError`` on anything else."""
    out = []
    while i < end:
        if b[i] != 0x0A:
            raise ValueError("not a BytesList value")
        n, i = varint(b, i + 1)
        out.append((i, i + n))
        i += n
    if i != end:
        raise ValueError("BytesList value runs past its list")
    return out


def unpacked_spans(b: bytes, i: int, end: int, list_tag: int) -> list[tuple[int, int]]:
    """The byte range of each value of an *unpacked* numeric list body ``b[i:end]``: FloatList
    (``list_tag`` 0x12) as ``0x0d | 4 bytes`` per value, Int64List (0x1a) as ``0x08 | varint``.
    Legal protobuf that parsers must accept (proto2 writers without ``packed``); ValueError otherwise."""
    out = []
    if list_tag == 0x12:
        while i < end:
            if b[i] != 0x0D:
                raise ValueError("not an unpacked float")
            out.append((i + 1, i + 5))
            i += 5
    else:
        while i < end:
            if b[i] != 0x08:
                raise ValueError("not an unpacked int64")
            _, j = varint(b, i + 1)
            out.append((i + 1, j))
            i = j
    if i != end:
        raise ValueError("value runs past its list")
    return out


def varints_at(b: bytes, spans) -> list[int]:
    """One signed int64 varint exactly filling each ``(start, end)`` of ``spans``; ValueError otherwise."""
    out = []
    for s, e in spans:
        v, i = varint(b, s)
        if i != e:
            raise ValueError("varint width changed")
        out.append(v - (1 << 64) if v >= 1 << 63 else v)
    return out


def feature_bytes(fb: bytes) -> list[bytes]:
    """The values of a serialized ``Feature`` holding a ``bytes_list`` (tag 0x0a); an empty Feature
    has none. Raises ``ValueError`` on any other kind or shape."""
    if not fb:
        return []
    if fb[0] != 0x0A:
        raise ValueError("not a bytes_list")
    n, i = varint(fb, 1)
    if i + n != len(fb):
        raise ValueError("bytes_list length does not match the Feature")
    return [fb[s:e] for s, e in bytes_spans(fb, i, i + n)]


def varint_rows(pay: np.ndarray, size: int) -> np.ndarray | None:
    """Vectorised varint decoding of a (rows, nbytes) uint8 matrix holding ``size`` varints per row
    -> (rows, size) int64, or None if a row does not hold exactly ``size`` whole varints."""
    if pay.shape[1] == size:  # every value < 128: one byte each
        return pay.astype(np.int64)
    if pay.shape[1] == 0 or (pay[:, -1] >= 0x80).any():
        return None
    last = pay < 0x80  # (rows, nbytes): the final byte of each varint
    if not (last.sum(1) == size).all():
        return None
    b = np.ascontiguousarray(pay).reshape(-1)
    ends = np.flatnonzero(last.reshape(-1))
    starts = np.concatenate([[0], ends[:-1] + 1])
    pos = np.arange(len(b)) - np.repeat(starts, ends - starts + 1)  # byte position inside its varint
    if pos.max() > 9:
        return None
    parts = (b & 0x7F).astype(np.uint64) << (7 * pos).astype(np.uint64)
    vals = np.bitwise_or.reduceat(parts, starts)
    return vals.view(np.int64).reshape(pay.shape[0], size)
