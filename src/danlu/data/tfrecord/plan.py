"""Per-record Example decoding by a compiled plan per byte layout (the hot path of ``ExampleDecoder``).

Records of one length whose *structural* bytes (tags, lengths, feature names) match parse alike:
only the payloads differ, at fixed offsets (see :mod:`.batch`). The first record of each length
is walked once (:func:`~danlu.data.tfrecord.batch.example_layout`) and turned into one small
straight-line Python function, e.g. for ``{"image": RawFeature([32, 32, 3]), "label": int64}``::

    def decode(rec):       # here WA0, WB0 = 0, 80; P1 = 33; P0, Q0 = 80, 3152
        if _from(rec[WA0:WB0], 'little') & WM0 != WE0: return None  # structural bytes, one compare
        v1 = rec[P1]
        if v1 > 127: return None                                      # a one-byte varint
        return {K0: _nd(SH0, D0, _ba(rec[P0:Q0])), K1: _arr(v1, _I8)}

The source holds only fixed identifiers and small integers (shifts); every value (offsets, feature
names, byte strings, masks, shapes, dtypes) is bound through the namespace, so no user string is
ever compiled, and one compiled code serves every record length of the same layout shape. Each
array gets its own ``bytearray`` copy of its payload (writable, aligned, no reference to the
record). ``None`` (or a ``ValueError``/``IndexError``/``OverflowError`` from a varint) sends the
record down the general path, which gives the same result or names the problem.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from danlu.data.tfrecord.batch import example_layout
from danlu.data.tfrecord.wire import F32, varint, varints, varints_at

#: Payload gaps up to this many bytes are masked inside one structural compare.
GAP = 64
_NS = {"_from": int.from_bytes, "_nd": np.ndarray, "_arr": np.array, "_ba": bytearray,
       "_fb": np.frombuffer, "_varint": varint, "_varints": varints, "_I8": np.dtype(np.int64),
       "_U8": np.dtype(np.uint8), "_varints_at": varints_at, "_join": b"".join, "_oa": np.asarray, "_empty": np.empty, "_O": np.dtype(object)}
FALLBACK = (ValueError, IndexError, OverflowError)
_CODE: dict[str, Any] = {}  # plan source -> compiled code (shared by layouts of one shape)


def _none(rec: bytes) -> None:
    return None


def _windows(structural: np.ndarray, rec: bytes) -> list[tuple[int, int, bytes | None, int, int]]:
    """Structural byte positions -> ``(start, end, exact bytes or None, mask, expected)`` windows:
    runs closer than ``GAP`` bytes share one masked integer compare."""
    if len(structural) == 0:
        return []
    brk = np.flatnonzero(np.diff(structural) != 1)  # last position of each run but the final one
    starts = [int(structural[0]), *(structural[brk + 1]).tolist()]
    ends = [*(structural[brk] + 1).tolist(), int(structural[-1]) + 1]
    spans = list(zip(starts, ends))
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
    function that always returns None when ``rec`` does not fit ``fields`` this way.

    Offsets are names too, so the source depends only on the layout's *shape* (windows, feature
    kinds, varint widths) and its compiled code is shared by every record length of that shape:
    a new length costs a layout walk (~10 µs), not a compile (~200 µs)."""
    lay = example_layout(rec)
    if lay is None:
        return _none
    feats, structural = lay
    ns: dict[str, Any] = dict(_NS)
    lines = ["def decode(rec):"]
    for k, (s, e, exact, m, want) in enumerate(_windows(structural, rec)):
        ns[f"WA{k}"], ns[f"WB{k}"] = s, e
        if exact is not None:
            ns[f"WS{k}"] = bytes(exact)
            lines.append(f"    if rec[WA{k}:WB{k}] != WS{k}: return None")
        else:
            ns[f"WM{k}"], ns[f"WE{k}"] = m, want
            lines.append(f"    if _from(rec[WA{k}:WB{k}], 'little') & WM{k} != WE{k}: return None")
    vals = []
    for j, f in enumerate(fields):
        ent = feats.get(f.name)
        ns.update({f"K{j}": f.name, f"SH{j}": f.shape})
        if ent is None:  # a missing feature: its default (the general path raises if it has none)
            if f.default is None:
                return _none
            ns[f"DF{j}"] = f.default
            vals.append(f"DF{j}.copy()")
            continue
        if ent[0] != f.tag:
            return _none
        _, s, e, spans = ent
        n = e - s
        size = math.prod(f.shape)
        ns.update({f"P{j}": s, f"Q{j}": e, f"N{j}": size})
        if f.np_dtype is object:  # FixedLenFeature(shape, "bytes"): `size` values, each a bytes slice
            if len(spans) != size:
                return _none
            if f.shape == ():
                vals.append(f"_oa(rec[P{j}:Q{j}], _O)")
            else:
                ns[f"SP{j}"] = spans
                lines += [f"    o{j} = _empty(N{j}, _O)", f"    o{j}[:] = [rec[s:e] for s, e in SP{j}]"]
                vals.append(f"o{j}.reshape(SH{j})")
            continue
        if spans is not None and f.kind == "bytes_list" and len(spans) != 1:  # RawFeature: one bytes value
            return _none
        if spans is not None and f.kind != "bytes_list":  # unpacked numbers: a tag before each value
            if len(spans) != size:
                return _none
            if size == 1:  # one value: as if packed, at its own offsets
                (s, e), spans = spans[0], None
                n = e - s
                ns.update({f"P{j}": s, f"Q{j}": e})
            elif f.kind == "int64_list":
                ns[f"SP{j}"] = spans
                vals.append(f"_arr(_varints_at(rec, SP{j}), _I8).reshape(SH{j})")
                continue
            else:
                ns[f"SP{j}"], ns[f"D{j}"] = spans, F32
                vals.append(f"_nd(SH{j}, D{j}, _ba(_join([rec[s:e] for s, e in SP{j}])))")
                continue
        if f.kind == "int64_list":
            if f.shape == () and n == 1:
                lines += [f"    v{j} = rec[P{j}]", f"    if v{j} > 127: return None"]
                vals.append(f"_arr(v{j}, _I8)")
            elif f.shape == () and n <= 4:  # a short varint, inline: 7 bits a byte, high bit = more
                bs = [f"b{j}_{t}" for t in range(n)]
                ns.update({f"P{j}_{t}": s + t for t in range(n)})
                lines += [f"    {', '.join(bs)} = {', '.join(f'rec[P{j}_{t}]' for t in range(n))}",
                          f"    if {' or '.join(f'{b} < 128' for b in bs[:-1])} or {bs[-1]} > 127: return None",
                          f"    v{j} = {' | '.join([f'({b} & 127) << {7 * t}' for t, b in enumerate(bs[:-1])] + [f'{bs[-1]} << {7 * (n - 1)}'])}"]
                vals.append(f"_arr(v{j}, _I8)")
            elif f.shape == ():
                lines += [f"    v{j}, i = _varint(rec, P{j})", f"    if i != Q{j}: return None"]
                if n >= 10:  # int64 is two's complement in 10 bytes
                    lines.append(f"    if v{j} >> 63: v{j} -= 1 << 64")
                vals.append(f"_arr(v{j}, _I8)")
            elif n == size and size:  # every value < 128: one byte each
                lines += [f"    a{j} = _fb(rec, _U8, N{j}, P{j})", f"    if a{j}.max() > 127: return None"]
                vals.append(f"a{j}.astype(_I8).reshape(SH{j})")
            else:
                lines += [f"    l{j} = _varints(rec, P{j}, Q{j})", f"    if len(l{j}) != N{j}: return None"]
                vals.append(f"_arr(l{j}, _I8).reshape(SH{j})")
        else:
            dt = f.np_dtype if f.kind == "bytes_list" else F32
            if n != size * dt.itemsize:
                return _none
            ns[f"D{j}"] = dt
            vals.append(f"_nd(SH{j}, D{j}, _ba(rec[P{j}:Q{j}]))")  # bytes slice + bytearray: faster than a memoryview
    lines.append("    return {" + ", ".join(f"K{j}: {v}" for j, v in enumerate(vals)) + "}")
    src = "\n".join(lines)
    code = _CODE.get(src)
    if code is None:
        if len(_CODE) >= 512:
            _CODE.clear()
        code = _CODE[src] = compile(src, "<tfrecord record plan>", "exec")
    exec(code, ns)  # noqa: S102  (defines `decode` in ns)
    decode = ns["decode"]
    decode.structural, decode.sample = structural, rec  # for telling layouts of one length apart
    return decode


def _entry(plans: list[Callable]) -> Callable:
    """One callable for the plans of one record length: the plan itself; or, for several layouts, a
    small decision tree on bytes that are structural in every layout of a branch (a record fits at
    most the plan its bytes lead to); where no byte tells a branch's layouts apart, each in turn."""
    if len(plans) == 1:
        return plans[0]
    common = plans[0].structural
    for p in plans[1:]:
        common = np.intersect1d(common, p.structural, assume_unique=True)
    if len(common):
        vals = np.stack([np.frombuffer(p.sample, np.uint8)[common] for p in plans])  # (plans, positions)
        groups = [len(set(vals[:, c].tolist())) for c in range(vals.shape[1])]
        best = int(np.argmax(groups))
        if groups[best] > 1:
            pos = int(common[best])
            branches: dict[int, list[Callable]] = {}
            for p in plans:
                branches.setdefault(p.sample[pos], []).append(p)
            get = {byte: _entry(group) for byte, group in branches.items()}.get

            def by_byte(rec):
                node = get(rec[pos])
                return None if node is None else node(rec)
            return by_byte
    layouts = tuple(plans)

    def in_turn(rec):
        for p in layouts:
            try:
                out = p(rec)
            except FALLBACK:
                continue
            if out is not None:
                return out
        return None
    return in_turn


class RecordPlans:
    """Compiled plans for an Example spec of fixed-size features (numbers or bytes), by record length.

    ``layouts[length]`` holds the plans of the layouts seen at that length (other key orders, as
    writers whose maps iterate in hash order produce; other varint widths), at most ``PER_LENGTH``;
    ``plans[length]`` is one callable over them (:func:`_entry`). Records whose layouts rarely repeat
    (variable-size images: fewer than 4 hits per compile after 64 compiles) switch the cache off;
    those records take the general path.
    """

    MAX = 256
    PER_LENGTH = 8

    def __init__(self, fields) -> None:
        self.fields = fields
        self.plans: dict[int, Callable] = {}
        self.layouts: dict[int, list[Callable]] = {}
        self.tries: dict[int, int] = {}
        self.hits = self.misses = 0
        self.enabled = all(f.plannable for f in fields)

    def __call__(self, rec: bytes) -> dict[str, np.ndarray] | None:
        """The decoded features, or None (the caller takes the general path)."""
        plan = self.plans.get(len(rec))
        if plan is not None:
            try:
                out = plan(rec)
            except FALLBACK:
                out = None
            if out is not None:
                self.hits += 1
                return out
        return self.other(rec)

    def other(self, rec: bytes) -> dict[str, np.ndarray] | None:
        """No plan of this length fits ``rec`` (or there is none yet): compile one for its layout.
        None: the caller takes the general path."""
        if not self.enabled:
            return None
        self.misses += 1  # a compile, or a record no plan of a full length fits
        if self.misses > 64 and self.hits < 4 * self.misses:
            self.enabled = False  # layouts rarely repeat: a plan (~35 µs) saves ~4 µs a hit, it does not pay
            return None
        if len(self.tries) >= self.MAX:
            self.plans.clear()
            self.layouts.clear()
            self.tries.clear()
        length = len(rec)
        n = self.tries.get(length, 0)
        if n >= self.PER_LENGTH:
            return None
        self.tries[length] = n + 1
        plan = compile_plan(self.fields, rec)
        try:
            out = plan(rec)
        except FALLBACK:  # e.g. a damaged varint: the general path names the problem
            out = None
        if out is None:
            return None
        layouts = self.layouts.setdefault(length, [])
        layouts.append(plan)
        self.plans[length] = _entry(layouts)
        return out
