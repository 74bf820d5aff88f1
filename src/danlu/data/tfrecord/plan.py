"""Per-record Example decoding by a compiled plan per byte layout (the hot path of ``ExampleDecoder``).

Records of one length whose *structural* bytes (tags, lengths, feature names) match parse alike:
only the payloads differ, at fixed offsets (see :mod:`.batch`). The first record of each length
is walked once (:func:`~danlu.data.tfrecord.batch.example_layout`) and turned into one small
straight-line Python function, e.g. for ``{"image": RawFeature([32, 32, 3]), "label": int64}``::

    def decode(rec):
        if _from(rec[0:80], 'little') & M0 != E0: return None   # structural bytes, one compare
        v1 = rec[33]
        if v1 > 127: return None                                # a one-byte varint
        return {K0: _nd(SH0, D0, _ba(rec[80:3152])), K1: _arr(v1, _I8)}

The source holds only integers and fixed identifiers; every value (feature names, byte strings,
masks, shapes, dtypes) is bound through the namespace, so no user string is ever compiled. Each
array gets its own ``bytearray`` copy of its payload (writable, aligned, no reference to the
record). ``None`` (or a ``ValueError``/``IndexError``/``OverflowError`` from a varint) sends the
record down the general path, which gives the same result or names the problem.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from danlu.data.tfrecord.batch import example_layout
from danlu.data.tfrecord.wire import F32, varint, varints

#: Payload gaps up to this many bytes are masked inside one structural compare.
GAP = 64
_NS = {"_from": int.from_bytes, "_nd": np.ndarray, "_arr": np.array, "_ba": bytearray,
       "_fb": np.frombuffer, "_varint": varint, "_varints": varints, "_I8": np.dtype(np.int64),
       "_U8": np.dtype(np.uint8)}
FALLBACK = (ValueError, IndexError, OverflowError)


def _none(rec: bytes) -> None:
    return None


def _windows(structural: np.ndarray, rec: bytes) -> list[tuple[int, int, bytes | None, int, int]]:
    """Structural byte positions -> ``(start, end, exact bytes or None, mask, expected)`` windows:
    runs closer than ``GAP`` bytes share one masked integer compare."""
    if len(structural) == 0:
        return []
    runs = np.split(structural, np.flatnonzero(np.diff(structural) != 1) + 1)
    spans = [(int(r[0]), int(r[-1]) + 1) for r in runs]
    groups: list[list[tuple[int, int]]] = [[spans[0]]]
    for a, b in spans[1:]:
        if a - groups[-1][-1][1] <= GAP:
            groups[-1].append((a, b))
        else:
            groups.append([(a, b)])
    out = []
    for g in groups:
        s, e = g[0][0], g[-1][1]
        if len(g) == 1:
            out.append((s, e, rec[s:e], 0, 0))
            continue
        mask = bytearray(e - s)
        for a, b in g:
            mask[a - s:b - s] = b"\xff" * (b - a)
        m = int.from_bytes(mask, "little")
        out.append((s, e, None, m, int.from_bytes(rec[s:e], "little") & m))
    return out


def compile_plan(fields, rec: bytes) -> Callable[[bytes], dict[str, np.ndarray] | None]:
    """A decoder for records with the layout of ``rec`` (returns None for any other record), or a
    function that always returns None when ``rec`` does not fit ``fields`` this way."""
    lay = example_layout(rec)
    if lay is None:
        return _none
    feats, structural = lay
    ns: dict[str, Any] = dict(_NS)
    lines = ["def decode(rec):"]
    for k, (s, e, exact, m, want) in enumerate(_windows(structural, rec)):
        if exact is not None:
            ns[f"S{k}"] = bytes(exact)
            lines.append(f"    if rec[{s}:{e}] != S{k}: return None")
        else:
            ns[f"M{k}"], ns[f"E{k}"] = m, want
            lines.append(f"    if _from(rec[{s}:{e}], 'little') & M{k} != E{k}: return None")
    vals = []
    for j, f in enumerate(fields):
        ent = feats.get(f.name)
        if ent is None or ent[0] != f.tag:
            return _none
        _, s, e = ent
        n = e - s
        ns[f"K{j}"], ns[f"SH{j}"] = f.name, f.shape
        size = int(np.prod(f.shape))
        if f.kind == "int64_list":
            if f.shape == () and n == 1:
                lines += [f"    v{j} = rec[{s}]", f"    if v{j} > 127: return None"]
                vals.append(f"_arr(v{j}, _I8)")
            elif f.shape == () and n <= 4:  # a short varint, inline: 7 bits a byte, high bit = more
                bs = [f"b{j}_{t}" for t in range(n)]
                lines += [f"    {', '.join(bs)} = {', '.join(f'rec[{s + t}]' for t in range(n))}",
                          f"    if {' or '.join(f'{b} < 128' for b in bs[:-1])} or {bs[-1]} > 127: return None",
                          f"    v{j} = {' | '.join([f'({b} & 127) << {7 * t}' for t, b in enumerate(bs[:-1])] + [f'{bs[-1]} << {7 * (n - 1)}'])}"]
                vals.append(f"_arr(v{j}, _I8)")
            elif f.shape == ():
                lines += [f"    v{j}, i = _varint(rec, {s})", f"    if i != {e}: return None"]
                if n >= 10:  # int64 is two's complement in 10 bytes
                    lines.append(f"    if v{j} >> 63: v{j} -= 1 << 64")
                vals.append(f"_arr(v{j}, _I8)")
            elif n == size and size:  # every value < 128: one byte each
                lines += [f"    a{j} = _fb(rec, _U8, {n}, {s})", f"    if a{j}.max() > 127: return None"]
                vals.append(f"a{j}.astype(_I8).reshape(SH{j})")
            else:
                lines += [f"    l{j} = _varints(rec, {s}, {e})", f"    if len(l{j}) != {size}: return None"]
                vals.append(f"_arr(l{j}, _I8).reshape(SH{j})")
        else:
            dt = f.np_dtype if f.kind == "bytes_list" else F32
            if n != size * dt.itemsize:
                return _none
            ns[f"D{j}"] = dt
            vals.append(f"_nd(SH{j}, D{j}, _ba(rec[{s}:{e}]))")  # bytes slice + bytearray: faster than a memoryview
    lines.append("    return {" + ", ".join(f"K{j}: {v}" for j, v in enumerate(vals)) + "}")
    exec(compile("\n".join(lines), f"<tfrecord plan, {len(rec)} bytes>", "exec"), ns)  # noqa: S102
    return ns["decode"]


class RecordPlans:
    """``{record length: compiled plan}`` for an Example spec of fixed-size numeric features.

    Records whose lengths rarely repeat (variable-size images) switch the cache off after a while.
    """

    MAX = 256

    def __init__(self, fields) -> None:
        self.fields = fields
        self.plans: dict[int, Callable] = {}
        self.hits = self.misses = 0
        self.enabled = all(f.batchable for f in fields)

    def __call__(self, rec: bytes) -> dict[str, np.ndarray] | None:
        """The decoded features, or None (the caller takes the general path)."""
        plan = self.plans.get(len(rec))
        if plan is None:
            if not self.enabled:
                return None
            self.misses += 1
            if self.misses > 64 and self.misses > self.hits:
                self.enabled = False  # lengths do not repeat: the cache does not pay
                return None
            if len(self.plans) >= self.MAX:
                self.plans.clear()
            plan = self.plans[len(rec)] = compile_plan(self.fields, rec)
        else:
            self.hits += 1
        try:
            return plan(rec)
        except FALLBACK:
            return None
