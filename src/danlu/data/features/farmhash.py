"""FarmHash ``Fingerprint64`` (farmhashna::Hash64) in numpy, vectorised over many strings.

TensorFlow's ``tf.strings.to_hash_bucket_fast`` -- used by the Keras ``Hashing`` layer, by
``StringLookup``'s OOV buckets and by ``tf.sparse.cross_hashed`` -- is ``Fingerprint64(s) mod n``,
and FarmHash's ``Fingerprint64`` is ``farmhashna::Hash64`` (Google's FarmHash, farmhash.cc), a
fixed function that is the same on every platform. This is a transcription of that C++ code on
``uint64`` numpy arrays (arithmetic wraps mod 2**64): strings are grouped by byte length, and all
strings of one length run through the same steps at once, so a column of short category strings
costs a few dozen numpy operations, not one Python call per string.

    >>> fingerprint64([b"A", b"B"]).tolist() == [fingerprint64_one(b"A"), fingerprint64_one(b"B")]
    True
    >>> [int(h % 3) for h in fingerprint64(["A", "B", "C", "D", "E"])]   # tf.keras.layers.Hashing(3) docs
    [1, 0, 1, 1, 2]

Reference for tests: ``pyfarmhash`` (``farmhash.fingerprint64``), which wraps Google's C++.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

K0 = np.uint64(0xC3A5C85C97CB3127)
K1 = np.uint64(0xB492B66FBE98F273)
K2 = np.uint64(0x9AE16A3B2F90404F)
_KMUL = np.uint64(0x9DDFEA08EB382D69)
U64 = np.uint64


def _rot(v: np.ndarray, s: int) -> np.ndarray:
    return (v >> U64(s)) | (v << U64(64 - s))


def _smix(v: np.ndarray) -> np.ndarray:
    return v ^ (v >> U64(47))


def _len16(u, v, mul):
    a = (u ^ v) * mul
    a ^= a >> U64(47)
    b = (v ^ a) * mul
    b ^= b >> U64(47)
    return b * mul


def _fetch64(m: np.ndarray, i: int) -> np.ndarray:
    """Little-endian uint64 at byte ``i`` of every row of the (n, L) uint8 matrix ``m``."""
    return np.ascontiguousarray(m[:, i:i + 8]).view("<u8")[:, 0].astype(U64)


def _fetch32(m: np.ndarray, i: int) -> np.ndarray:
    return np.ascontiguousarray(m[:, i:i + 4]).view("<u4")[:, 0].astype(U64)


def _weak32(w, x, y, z, a, b):
    a = a + w
    b = _rot(b + a + z, 21)
    c = a
    a = a + x
    a = a + y
    b = b + _rot(a, 44)
    return a + z, b + c


def _weak32s(m, i, a, b):
    return _weak32(_fetch64(m, i), _fetch64(m, i + 8), _fetch64(m, i + 16), _fetch64(m, i + 24), a, b)


def _hash_len(m: np.ndarray, n: int) -> np.ndarray:
    """Fingerprint64 of each row of ``m`` (shape (rows, n), dtype uint8), all of byte length ``n``."""
    rows = m.shape[0]
    if n == 0:
        return np.full(rows, K2, dtype=U64)
    with np.errstate(over="ignore"):
        if n < 4:
            a = m[:, 0].astype(U64)
            b = m[:, n >> 1].astype(U64)
            c = m[:, n - 1].astype(U64)
            y = (a + (b << U64(8))) & U64(0xFFFFFFFF)
            z = (U64(n) + (c << U64(2))) & U64(0xFFFFFFFF)
            return _smix(y * K2 ^ z * K0) * K2
        mul = K2 + U64(n * 2)
        if n < 8:
            a = _fetch32(m, 0)
            return _len16(U64(n) + (a << U64(3)), _fetch32(m, n - 4), mul)
        if n <= 16:
            a = _fetch64(m, 0) + K2
            b = _fetch64(m, n - 8)
            c = _rot(b, 37) * mul + a
            d = (_rot(a, 25) + b) * mul
            return _len16(c, d, mul)
        if n <= 32:
            a = _fetch64(m, 0) * K1
            b = _fetch64(m, 8)
            c = _fetch64(m, n - 8) * mul
            d = _fetch64(m, n - 16) * K2
            return _len16(_rot(a + b, 43) + _rot(c, 30) + d, a + _rot(b + K2, 18) + c, mul)
        if n <= 64:
            a = _fetch64(m, 0) * K2
            b = _fetch64(m, 8)
            c = _fetch64(m, n - 8) * mul
            d = _fetch64(m, n - 16) * K2
            y = _rot(a + b, 43) + _rot(c, 30) + d
            z = _len16(y, a + _rot(b + K2, 18) + c, mul)
            e = _fetch64(m, 16) * mul
            f = _fetch64(m, 24)
            g = (y + _fetch64(m, n - 32)) * mul
            h = (z + _fetch64(m, n - 24)) * mul
            return _len16(_rot(e + f, 43) + _rot(g, 30) + h, e + _rot(f + a, 18) + g, mul)
        # n > 64: 64-byte blocks, then the last 64 bytes
        seed = U64(81)
        zero = np.zeros(rows, dtype=U64)
        x = np.full(rows, seed, dtype=U64)
        y = np.full(rows, seed * K1 + U64(113), dtype=U64)
        z = _smix(y * K2 + U64(113)) * K2
        v0, v1, w0, w1 = zero, zero.copy(), zero.copy(), zero.copy()
        x = x * K2 + _fetch64(m, 0)
        end = ((n - 1) // 64) * 64
        last64 = end + ((n - 1) & 63) - 63
        s = 0
        while True:
            x = _rot(x + y + v0 + _fetch64(m, s + 8), 37) * K1
            y = _rot(y + v1 + _fetch64(m, s + 48), 42) * K1
            x ^= w1
            y = y + v0 + _fetch64(m, s + 40)
            z = _rot(z + w0, 33) * K1
            v0, v1 = _weak32s(m, s, v1 * K1, x + w0)
            w0, w1 = _weak32s(m, s + 32, z + w1, y + _fetch64(m, s + 16))
            z, x = x, z
            s += 64
            if s == end:
                break
        mul = K1 + ((z & U64(0xFF)) << U64(1))
        s = last64
        w0 = w0 + U64((n - 1) & 63)
        v0 = v0 + w0
        w0 = w0 + v0
        x = _rot(x + y + v0 + _fetch64(m, s + 8), 37) * mul
        y = _rot(y + v1 + _fetch64(m, s + 48), 42) * mul
        x ^= w1 * U64(9)
        y = y + v0 * U64(9) + _fetch64(m, s + 40)
        z = _rot(z + w0, 33) * mul
        v0, v1 = _weak32s(m, s, v1 * mul, x + w0)
        w0, w1 = _weak32s(m, s + 32, z + w1, y + _fetch64(m, s + 16))
        z, x = x, z
        return _len16(_len16(v0, w0, mul) + _smix(y) * K0 + z, _len16(v1, w1, mul) + x, mul)


def _to_bytes(v) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, bytearray | memoryview | np.bytes_):
        return bytes(v)
    if isinstance(v, np.str_):
        return str(v).encode("utf-8")
    raise TypeError(f"fingerprint64 hashes str or bytes, got {type(v).__name__}")


def fingerprint64(values: Iterable) -> np.ndarray:
    """``Fingerprint64`` of every string (``str`` as UTF-8, or ``bytes``): a uint64 array of the same length."""
    vals = [_to_bytes(v) for v in values]
    out = np.empty(len(vals), dtype=U64)
    if not vals:
        return out
    lengths = np.fromiter((len(v) for v in vals), dtype=np.int64, count=len(vals))
    for n in np.unique(lengths):
        rows = np.flatnonzero(lengths == n)
        blob = b"".join(vals[i] for i in rows)
        m = np.frombuffer(blob, dtype=np.uint8).reshape(len(rows), int(n))
        out[rows] = _hash_len(m, int(n))
    return out


def fingerprint64_one(value: str | bytes) -> int:
    """``Fingerprint64`` of one string, as a Python int."""
    return int(fingerprint64([value])[0])


def fingerprint_cat64(fp1: np.ndarray, fp2: np.ndarray) -> np.ndarray:
    """TensorFlow's ``FingerprintCat64`` (tensorflow/core/platform/fingerprint.h): combines two fingerprints.

    Used by ``tf.sparse.cross_hashed`` (Keras ``HashedCrossing``) to chain the features of a cross.
    """
    kmul = U64(0xC6A4A7935BD1E995)
    with np.errstate(over="ignore"):
        r = np.asarray(fp1, dtype=U64) ^ kmul
        r ^= _smix(np.asarray(fp2, dtype=U64) * kmul) * kmul
        r = r * kmul
        r = _smix(r) * kmul
        return _smix(r)
