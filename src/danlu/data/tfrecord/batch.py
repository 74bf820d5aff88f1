"""Batch decoding of Examples that share one byte layout (the common case: one writer, fixed-size features).

Records of equal length whose *structural* bytes (tags, lengths, feature names) are identical
parse identically: only the payload bytes (packed floats, varints, raw bytes) differ, at the same
offsets. So a batch is grouped by record length, the first record of each group is walked once
in Python to find the payload offsets, every record of the group is checked to have the same
structural bytes (one vectorised comparison), and each feature is then one strided slice of a
``(records, length)`` uint8 matrix. A group that does not fit (a missing feature, another key
order, a multi-valued bytes list, ...) is decoded through the per-record view parse instead, so
the result is always the same as decoding the records one by one (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from danlu.data.tfrecord.wire import bytes_spans, feature_payload, unpacked_spans, varint

#: More distinct record lengths than this in one batch: the per-record path is as fast.
MAX_GROUPS = 16


def example_layout(rec: bytes) -> tuple[dict[str, tuple[int, int, int, tuple | None]], np.ndarray] | None:
    """Walk one serialized Example: ``({name: (feature tag, payload start, payload end, value spans)},
    structural byte positions)``, or None if it is not the plain layout TF writers produce.

    A numeric list in one packed chunk has ``spans`` None (the payload is ``start:end``); an
    unpacked numeric list (``0x0d | float`` or ``0x08 | varint`` per value) and a ``bytes_list``
    give the ``(start, end)`` of each value in ``spans``. Value bytes are payload, everything else
    (tags, lengths, names) is structural."""
    try:
        if rec[0] != 0x0A:  # Example.features
            return None
        size, i = varint(rec, 1)
        end = len(rec)
        if i + size != end:
            return None
        feats: dict[str, tuple[int, int, int]] = {}
        structural = np.ones(end, dtype=bool)
        while i < end:
            if rec[i] != 0x0A:  # Features.feature map entry
                return None
            elen, i = varint(rec, i + 1)
            eend = i + elen
            if rec[i] != 0x0A:  # entry key
                return None
            klen, i = varint(rec, i + 1)
            key = rec[i:i + klen].decode("utf-8")
            i += klen
            if rec[i] != 0x12:  # entry value: the Feature
                return None
            vlen, i = varint(rec, i + 1)
            if i + vlen != eend or vlen == 0 or key in feats:
                return None
            tag = rec[i]
            if tag == 0x0A:  # bytes_list: each value is a payload, their lengths are structural
                n, j = varint(rec, i + 1)
                if j + n != eend:
                    return None
                spans = tuple(bytes_spans(rec, j, eend))
                for s, e in spans:
                    structural[s:e] = False
                feats[key] = (tag, spans[0][0] if spans else j, spans[-1][1] if spans else j, spans)
            elif tag in (0x12, 0x1A):  # float_list / int64_list: one packed chunk, or unpacked values
                n, j = varint(rec, i + 1)
                if j + n != eend:
                    return None
                if n and rec[j] != 0x0A:
                    spans = tuple(unpacked_spans(rec, j, eend, tag))
                    for s, e in spans:
                        structural[s:e] = False
                    feats[key] = (tag, spans[0][0], spans[-1][1], spans)
                else:
                    s, e = feature_payload(rec[i:eend], tag)
                    feats[key] = (tag, i + s, i + e, None)
                    structural[i + s:i + e] = False
            else:
                return None
            i = eend
        return feats, np.flatnonzero(structural)
    except (IndexError, ValueError, UnicodeDecodeError):
        return None


def decode_same_layout(decoder, records: Sequence[bytes]) -> dict[str, Any] | None:
    """``decoder.decode_batch`` for fixed-size specs (numbers or bytes); None if the batch has too many
    record lengths. Within a length, up to ``PER_LENGTH`` layouts (key orders, varint widths) are
    each decoded vectorised; records of any other layout take the per-record view parse."""
    n = len(records)
    if n == 0:
        return None
    lens = np.fromiter(map(len, records), dtype=np.int64, count=n)
    uniq = np.unique(lens)
    if len(uniq) > MAX_GROUPS:
        return None
    out = {f.name: np.empty((n, *f.shape), dtype=f.np_dtype) for f in decoder.fields}  # (n, *shape)
    for length in uniq:
        rows = np.arange(n) if len(uniq) == 1 else np.flatnonzero(lens == length)
        _by_layout(decoder, records, rows, int(length), out)
    return out


#: Layouts decoded vectorised per record length in one batch.
PER_LENGTH = 8


def _by_layout(decoder, records: Sequence[bytes], rows: np.ndarray, length: int, out: dict) -> None:
    """Decode ``records[rows]`` (all ``length`` bytes long) into ``out[name][rows]``, one layout at a time."""
    recs = records if len(rows) == len(records) else [records[i] for i in rows]
    m = np.frombuffer(b"".join(recs), dtype=np.uint8).reshape(len(recs), length)  # (records, length)
    left = np.arange(len(recs))  # rows of `recs` still to decode
    for _ in range(PER_LENGTH):
        if not len(left):
            return
        lay = example_layout(recs[left[0]])
        if lay is None:  # not a plain layout: this record by the view parse
            _views(decoder, records, rows[left[:1]], out)
            left = left[1:]
            continue
        feats, structural = lay
        cols = m[:, structural]  # (records, structural bytes)
        same = (cols == cols[left[0]]).all(1)
        if len(left) == len(recs) and same.all():
            hit, left = None, left[:0]  # the common case: one layout, no row selection
        else:
            keep = same[left]
            hit, left = left[keep], left[~keep]
        vals = _group(decoder, feats, m if hit is None else m[hit], recs if hit is None else [recs[i] for i in hit])
        where = rows if hit is None else rows[hit]
        if vals is None:  # the spec does not fit this layout: the view parse names the problem
            _views(decoder, records, where, out)
            continue
        for name, v in vals.items():
            out[name][where] = v
    if len(left):
        _views(decoder, records, rows[left], out)


def _views(decoder, records: Sequence[bytes], idx: np.ndarray, out: dict) -> None:
    vals = decoder.decode_views([records[i] for i in idx])
    for name, v in vals.items():
        out[name][idx] = v


def _group(decoder, feats: dict, m: np.ndarray, recs: Sequence[bytes]) -> dict[str, np.ndarray] | None:
    """One layout: ``m`` is ``(records, length)`` uint8 of ``recs``, whose structural bytes all match."""
    vals = {}
    for f in decoder.fields:
        ent = feats.get(f.name)
        if ent is None:  # missing in every record of the group: the default, or the general path's error
            if f.default is None:
                return None
            vals[f.name] = np.broadcast_to(f.default, (len(recs), *f.shape)).copy()
            continue
        tag, s, e, spans = ent
        if tag != f.tag:
            return None
        if f.np_dtype is object:  # bytes values: one slice per record and value
            if len(spans) != f.size:
                return None
            col = np.empty((len(recs), len(spans)), dtype=object)  # (records, values)
            for k, (a, b) in enumerate(spans):
                col[:, k] = [r[a:b] for r in recs]
            vals[f.name] = col.reshape(len(recs), *f.shape)
            continue
        if spans is None:
            pay = m[:, s:e]
        elif f.kind == "bytes_list":  # RawFeature: exactly one bytes value
            if len(spans) != 1:
                return None
            pay = m[:, s:e]
        else:  # unpacked numbers: their value bytes side by side, as a packed list would hold them
            pay = np.hstack([m[:, a:b] for a, b in spans])
            if f.kind == "int64_list" and len(recs) > 1:
                last = pay < 0x80  # each varint must end where the first record's does (one value per tag)
                if not (last[1:] == last[0]).all():
                    return None
        v = f.from_payload(pay)
        if v is None:
            return None
        vals[f.name] = v
    return vals
