"""Decoders of one serialized ``tensorflow.Feature`` (its raw bytes, from the ``ExampleView`` map) for the
encodings writers use: one list of the expected kind, numbers packed in one chunk, the expected count.

They are the general path of :class:`~danlu.data.tfrecord.spec.ExampleDecoder` for records no
compiled plan fits (:mod:`.plan`). Each returns a writable array of its own, or raises on anything
else (another kind, an unpacked or split list, a wrong count), and the caller then decodes the
feature from the full ``tensorflow.Example`` parse, which gives the same result or names the problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from danlu.data.tfrecord.wire import F32, feature_bytes, feature_payload, not_fast, varint, varints


def feature_decoder(shape: tuple, np_dtype, kind: str, *, raw: bool = False, var: bool = False,
                    seq: bool = False) -> Callable[[bytes], np.ndarray]:
    """``Feature bytes -> array`` for a spec entry: ``shape`` (FixedLen; ignored when ``var``),
    ``np_dtype`` (object for bytes), ``kind`` (``"bytes_list"``, ``"float_list"``, ``"int64_list"``);
    ``raw`` for a RawFeature (one bytes value read as ``np_dtype``), ``var`` for a VarLenFeature
    (1-D, any count), ``seq`` for a FixedLenSequenceFeature (never here: always the full parse)."""
    if raw:
        nbytes = math.prod(shape) * np_dtype.itemsize

        def raw_bytes(fb):
            s, e = feature_payload(fb, 0x0A)
            if e - s != nbytes:
                raise ValueError
            return np.ndarray(shape, np_dtype, fb, s).copy()  # (*shape,), a writable copy
        return raw_bytes
    if seq:
        return not_fast
    size = None if var else math.prod(shape)
    if np_dtype is object:
        if shape == () and not var:
            def string(fb):  # one bytes value: a single payload slice (an empty list is 2 bytes)
                if len(fb) < 4:
                    raise ValueError
                s, e = feature_payload(fb, 0x0A)
                return np.asarray(fb[s:e], object)  # ()
            return string

        def strings(fb):
            vals = feature_bytes(fb)
            if size is not None and len(vals) != size:
                raise ValueError
            out = np.empty(len(vals), dtype=object)
            out[:] = vals
            return out.reshape(shape if size is not None else (len(vals),))
        return strings
    if kind == "float_list":
        def floats(fb):
            s, e = feature_payload(fb, 0x12)
            n = (e - s) >> 2
            if (size is not None and n != size) or (e - s) & 3:
                raise ValueError
            return np.ndarray(shape if size is not None else (n,), F32, fb, s).copy()
        return floats

    scalar = not var and shape == ()

    def ints(fb):
        s, e = feature_payload(fb, 0x1A)
        if scalar:
            v = fb[s]
            if v < 0x80:
                i = s + 1
            elif fb[s + 1] < 0x80:
                v, i = (v & 0x7F) | (fb[s + 1] << 7), s + 2
            else:
                v, i = varint(fb, s)
            if i != e:
                raise ValueError
            return np.array(v - (1 << 64) if v >= 1 << 63 else v, dtype=np.int64)  # ()
        if size is not None and e - s == size:  # every value < 128
            return np.frombuffer(fb, np.uint8, size, s).astype(np.int64).reshape(shape)
        vals = varints(fb, s, e)
        if size is not None and len(vals) != size:
            raise ValueError
        return np.array(vals, dtype=np.int64).reshape(shape if size is not None else (len(vals),))
    return ints
