"""Hash bucketing and hashed crossing with TensorFlow's exact functions (so bucket ids agree with TF).

* :func:`hash_bucket` = Keras ``Hashing(num_bins, mask_value)`` = ``tf.strings.to_hash_bucket_fast``:
  ``Fingerprint64(s) mod num_bins``; integers are hashed as their decimal strings (Keras converts
  them with ``tf.as_string``); with a ``mask_value`` bin 0 is reserved for it and the rest use
  ``1 + Fingerprint64(s) mod (num_bins - 1)``.
* :func:`hashed_cross` = Keras ``HashedCrossing`` = ``tf.sparse.cross_hashed``: for every
  combination of one value per feature, ``h = 0xDECAFCAFFE`` then ``h = FingerprintCat64(h, f_i)``
  per feature, with ``f_i = Fingerprint64(s)`` for strings and the integer itself (as uint64) for
  integers; the bucket is ``h mod num_bins``.

    >>> hash_bucket(["A", "B", "C", "D", "E"], 3).tolist()            # Keras Hashing docs
    [1, 0, 1, 1, 2]
    >>> hash_bucket(["A", "B", "", "C", "D"], 3, mask_value="").tolist()
    [1, 1, 0, 2, 2]
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from danlu.data.features.farmhash import fingerprint64, fingerprint_cat64
from danlu.errors import DanluError

DEFAULT_CROSS_KEY = 0xDECAFCAFFE  # tf.sparse.cross_hashed's default hash_key


def as_hash_strings(values) -> list:
    """Values as the strings TF hashes: str/bytes as they are, integers in decimal (``tf.as_string``)."""
    out = []
    for v in values:
        if isinstance(v, str | bytes):
            out.append(v)
        elif isinstance(v, np.str_ | np.bytes_):
            out.append(v.item())
        elif isinstance(v, numbers.Integral):
            out.append(str(int(v)))
        else:
            raise DanluError(f"hashing takes strings or integers, got {type(v).__name__} ({v!r})")
    return out


def hash_bucket(values: Sequence, num_bins: int, mask_value=None) -> np.ndarray:
    """Keras ``Hashing``: bucket ids in ``[0, num_bins)`` (int64) for a flat sequence of values."""
    if int(num_bins) < 1 or (mask_value is not None and num_bins < 2):
        raise DanluError(f"num_bins must be >= 1 (>= 2 with a mask_value), got {num_bins}")
    strs = as_hash_strings(values)
    fp = fingerprint64(strs)
    if mask_value is None:
        return (fp % np.uint64(num_bins)).astype(np.int64)
    ids = (fp % np.uint64(num_bins - 1)).astype(np.int64) + 1
    mask = np.fromiter((v == mask_value for v in values), dtype=bool, count=len(strs))
    ids[mask] = 0
    return ids


def cross_values(values) -> np.ndarray:
    """The per-feature uint64 a cross combines: Fingerprint64 for strings, the integer itself for ints."""
    arr = list(values)
    if all(isinstance(v, numbers.Integral) for v in arr):
        return np.array([int(v) & 0xFFFFFFFFFFFFFFFF for v in arr], dtype=np.uint64).reshape(-1)
    if all(isinstance(v, str | bytes | np.str_ | np.bytes_) for v in arr):
        return fingerprint64(arr)
    raise DanluError("a crossed feature must hold all strings or all integers")


def hashed_cross(features: Sequence[np.ndarray], num_bins: int, hash_key: int = DEFAULT_CROSS_KEY) -> np.ndarray:
    """Keras ``HashedCrossing`` on aligned per-row values: ``features[i]`` is a uint64 array (from
    :func:`cross_values`) of shape (N,); returns int64 bucket ids (N,)."""
    if int(num_bins) < 1:
        raise DanluError(f"num_bins must be >= 1, got {num_bins}")
    h = np.full(len(features[0]), np.uint64(hash_key), dtype=np.uint64)
    for f in features:
        h = fingerprint_cat64(h, f)
    return (h % np.uint64(num_bins)).astype(np.int64)
