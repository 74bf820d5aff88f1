"""Byte layouts other writers produce, serialized by hand (TensorFlow is not needed): map entries in any
order (per record), packed and unpacked repeated numbers, overlong varint lengths, value-before-key
entries. Every decoder path (plans, per-record general path, batch) must equal protobuf's own parse
of the same bytes (the reference), or raise where protobuf refuses them."""

from __future__ import annotations

import itertools
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danlu.data.tfrecord import Example, ExampleDecoder, FixedLenFeature, VarLenFeature
from danlu.data.tfrecord.spec import _Field
from danlu.errors import DanluError

M64 = (1 << 64) - 1


def _varint(v: int, extra: int = 0) -> bytes:
    """Protobuf varint; ``extra`` > 0 writes that many redundant bytes (overlong, still legal)."""
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        if not v:
            break
        out.append(b | 0x80)
    if extra:
        out.append(b | 0x80)
        out += b"\x80" * (extra - 1) + b"\x00"
    else:
        out.append(b)
    return bytes(out)


def _ld(tag: int, payload: bytes, extra: int = 0) -> bytes:
    return bytes([tag]) + _varint(len(payload), extra) + payload


def feature(kind: str, values, packed: bool = True, extra: int = 0) -> bytes:
    """A serialized tensorflow.Feature (bytes_list 0x0a, float_list 0x12, int64_list 0x1a)."""
    if kind == "bytes":
        return _ld(0x0A, b"".join(_ld(0x0A, v, extra) for v in values), extra)
    if kind == "float":
        if packed:
            body = _ld(0x0A, struct.pack(f"<{len(values)}f", *values), extra) if values else b""
        else:
            body = b"".join(b"\x0d" + struct.pack("<f", v) for v in values)
        return _ld(0x12, body, extra)
    if packed:
        body = _ld(0x0A, b"".join(_varint(v & M64) for v in values), extra) if values else b""
    else:
        body = b"".join(b"\x08" + _varint(v & M64) for v in values)
    return _ld(0x1A, body, extra)


def example(entries: list[tuple[str, bytes]], value_first: bool = False, extra: int = 0) -> bytes:
    """A serialized tensorflow.Example whose map entries are written in the order given."""
    body = b""
    for key, feat in entries:
        k, v = _ld(0x0A, key.encode()), _ld(0x12, feat, extra)
        body += _ld(0x0A, v + k if value_first else k + v, extra)
    return _ld(0x0A, body, extra)


SPEC = {"f": FixedLenFeature([3], "float32"), "i": FixedLenFeature([2], "int64"), "s": FixedLenFeature([], "int64"),
        "b": FixedLenFeature([], "bytes"), "g": FixedLenFeature([], "float32")}


def _reference(rec: bytes, spec=SPEC):
    """protobuf's parse of the bytes, decoded per spec; or the DanluError the decoder must raise."""
    try:
        fmap = Example.FromString(rec).features.feature
    except Exception:
        return "unparseable"
    try:
        return {n: _Field(n, sp).decode(fmap) for n, sp in spec.items()}
    except DanluError as exc:
        return exc


def _check(decode, rec: bytes, want) -> None:
    if want == "unparseable" or isinstance(want, DanluError):
        with pytest.raises(DanluError):
            decode(rec)
        return
    got = decode(rec)
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert np.array_equal(got[k], want[k]), k


i64 = st.integers(-(2**63), 2**63 - 1)
f32 = st.floats(width=32, allow_nan=False)
row_st = st.fixed_dictionaries({
    "f": st.lists(f32, min_size=3, max_size=3), "i": st.lists(i64, min_size=2, max_size=2),
    "s": st.one_of(st.integers(0, 200), i64), "b": st.binary(max_size=200), "g": f32,
    "order": st.permutations(list("fisbg")), "packed": st.lists(st.booleans(), min_size=3, max_size=3),
    "extra": st.sampled_from([0, 0, 0, 1, 2]), "value_first": st.sampled_from([False, False, False, True]),
})


def _record(r) -> bytes:
    feats = {"f": feature("float", r["f"], r["packed"][0]), "i": feature("int", r["i"], r["packed"][1]),
             "s": feature("int", [r["s"]], r["packed"][2]), "b": feature("bytes", [r["b"]]),
             "g": feature("float", [r["g"]], r["packed"][0], extra=r["extra"])}
    return example([(k, feats[k]) for k in r["order"]], value_first=r["value_first"], extra=r["extra"])


@settings(max_examples=40, deadline=None)
@given(rows=st.lists(row_st, min_size=1, max_size=8))
def test_any_layout_decodes_as_protobuf_parses_it(rows):
    recs = [_record(r) for r in rows] * 3
    dec, plain = ExampleDecoder(SPEC), ExampleDecoder(SPEC)
    plain._layouts.enabled = False
    for rec in recs:
        want = _reference(rec)
        _check(dec, rec, want)
        _check(plain, rec, want)
    wants = [_reference(r) for r in recs]
    if all(isinstance(w, dict) for w in wants):
        batch = ExampleDecoder(SPEC).decode_batch(recs)
        for k in SPEC:
            assert np.array_equal(batch[k], np.stack([w[k] for w in wants])), k


def _fixed_row(order, packed=(True, True, True), value=1) -> bytes:
    return _record({"f": [0.5, value, 2.0], "i": [value, -value], "s": value, "b": bytes([value]) * 30,
                    "g": -1.5, "order": order, "packed": list(packed), "extra": 0, "value_first": False})


def test_key_orders_of_one_length_each_get_a_plan():
    """A writer whose map order changes from record to record (hash order): same length, other layouts."""
    orders = list(itertools.permutations("fisbg"))[:6]
    recs = [_fixed_row(orders[k % 6], value=k % 100 + 1) for k in range(60)]
    assert len({len(r) for r in recs}) == 1
    dec = ExampleDecoder(SPEC)
    for r in recs:
        _check(dec, r, _reference(r))
    lp = dec._layouts
    assert len(lp.plans) == 1 and len(lp.layouts[len(recs[0])]) == 6
    assert lp.plans[len(recs[0])].__name__ == "by_byte"  # structural bytes tell the 6 layouts apart
    assert lp.hits == 54 and lp.misses == 6  # one compile per order, every other record by a plan


@pytest.mark.parametrize("packed", [(False, False, False), (True, False, True), (False, True, False)])
def test_unpacked_numbers_take_the_plans(packed):
    recs = [_fixed_row("fisbg", packed, value=v) for v in (3, 4, 5, 6) * 3]
    dec = ExampleDecoder(SPEC)
    for r in recs:
        _check(dec, r, _reference(r))
    assert dec._layouts.hits == len(recs) - 1
    batch = ExampleDecoder(SPEC).decode_batch(recs)
    assert batch["i"].tolist() == [[v, -v] for v in (3, 4, 5, 6) * 3]
    assert batch["f"][:, 1].tolist() == [3.0, 4.0, 5.0, 6.0] * 3


def test_unpacked_int_with_another_varint_split_is_not_guessed():
    """Same length, same tag positions, but the bytes between two unpacked tags split into other varints:
    that is not the layout the plan was made for; the answer must be protobuf's (here: an error)."""
    spec = {"i": FixedLenFeature([3], "int64")}
    good = example([("i", feature("int", [300, 5, 5], packed=False))])  # 08 ac 02 08 05 08 05
    at = good.index(b"\x08\xac\x02")
    for split in (b"\x05\x05", b"\x05\x85"):  # as a stream of varints: 4 values / still 3 values
        bad = bytearray(good)
        bad[at + 1:at + 3] = split  # a stray byte where protobuf reads a tag
        bad = bytes(bad)
        dec = ExampleDecoder(spec)
        dec(good)
        want = _reference(bad, spec)
        _check(dec, bad, want)
        if isinstance(want, dict):
            got = ExampleDecoder(spec).decode_batch([good, bad])
            assert got["i"][1].tolist() == want["i"].tolist()
        else:
            with pytest.raises(DanluError):
                ExampleDecoder(spec).decode_batch([good, bad])


def test_varlen_and_defaults_with_unpacked_and_reordered_entries():
    spec = {"v": VarLenFeature("int64"), "w": FixedLenFeature([], "float32", default_value=2.5),
            "f": VarLenFeature("float32")}
    recs = [example([("f", feature("float", [1.0] * k, packed=k % 2 == 0)), ("v", feature("int", list(range(k)),
                    packed=False))][::(1 if k % 3 else -1)]) for k in range(6)]
    dec = ExampleDecoder(spec)
    for r in recs * 2:
        _check(dec, r, _reference(r, spec))


def test_batch_of_mixed_key_orders_is_vectorised_per_layout(monkeypatch):
    orders = list(itertools.permutations("fisbg"))[:6]
    recs = [_fixed_row(orders[k % 6], packed=(True, k % 2 == 0, True), value=k % 100 + 1) for k in range(48)]
    wants = [_reference(r) for r in recs]
    views = []
    real = ExampleDecoder.decode_views
    monkeypatch.setattr(ExampleDecoder, "decode_views", lambda self, rs: views.append(len(rs)) or real(self, rs))
    batch = ExampleDecoder(SPEC).decode_batch(recs)
    for k in SPEC:
        assert np.array_equal(batch[k], np.stack([w[k] for w in wants])), k
    assert views == []  # 6 layouts (orders; odd-order ones unpacked) of one length: all vectorised
    many = [_fixed_row(o, value=5) for o in itertools.permutations("fisbg")][:20]  # 20 layouts of one length
    batch = ExampleDecoder(SPEC).decode_batch(many)
    assert sum(views) == 20 - 8 and batch["s"].tolist() == [5] * 20
