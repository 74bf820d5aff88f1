"""The compiled per-layout record decoder (plan.py) against the full protobuf parse (the reference):
every varint length, negative ints, vectors, floats, raw arrays, and damaged payloads."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danlu.data.tfrecord import Example, ExampleDecoder, FixedLenFeature, RawFeature, make_example
from danlu.data.tfrecord.spec import _Field
from danlu.errors import DanluError

SPEC = {"s": FixedLenFeature([], "int64"), "v": FixedLenFeature([3], "int64"),
        "f": FixedLenFeature([2], "float32"), "r": RawFeature([2], "uint16"),
        "img": RawFeature([2, 3], "uint8")}
i64 = st.integers(-(2**63), 2**63 - 1)
# values around each varint length boundary (1..10 bytes) and small ones
edge = st.sampled_from([0, 1, 127, 128, 16383, 16384, 2**21 - 1, 2**21, 2**28 - 1, 2**28, 2**63 - 1, -1, -(2**63)])
ints = st.one_of(edge, i64, st.integers(0, 127))
row_st = st.tuples(ints, st.lists(ints, min_size=3, max_size=3), st.lists(st.floats(width=32, allow_nan=False),
                   min_size=2, max_size=2), st.binary(min_size=4, max_size=4), st.binary(min_size=6, max_size=6))


def _record(row) -> bytes:
    s, v, f, r, img = row
    return make_example({"s": s, "v": v, "f": f, "r": r, "img": img}).SerializeToString()


def _reference(rec: bytes) -> dict[str, np.ndarray]:
    fmap = Example.FromString(rec).features.feature
    return {name: _Field(name, sp).decode(fmap) for name, sp in SPEC.items()}


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert np.array_equal(got[k], want[k]), k
        assert got[k].flags.writeable and got[k].flags.aligned, k


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(row_st, min_size=1, max_size=10))
def test_plan_equals_full_parse(rows):
    recs = [_record(r) for r in rows] * 3  # repeats: later records of a length go through its plan
    dec = ExampleDecoder(SPEC)
    for rec in recs:
        _same(dec(rec), _reference(rec))
    assert dec._layouts.hits > 0


def test_plan_is_used_and_outputs_do_not_share_memory():
    dec = ExampleDecoder(SPEC)
    recs = [_record((i, [i, 200, 3], [0.5, 1.5], b"\x01\x02\x03\x04", bytes(range(i, i + 6)))) for i in range(20)]
    outs = [dec(r) for r in recs]
    assert dec._layouts.hits == 19 and len(dec._layouts.plans) == 1
    outs[0]["img"][:] = 0  # writable, and its own copy
    assert outs[1]["img"].tolist() == [[1, 2, 3], [4, 5, 6]] and int(outs[5]["s"]) == 5
    assert outs[3]["r"].tolist() == [0x0201, 0x0403] and outs[3]["f"].tolist() == [0.5, 1.5]


@pytest.mark.parametrize("value", [5, 300, 70000, 2**40, -3])
def test_damaged_varint_in_a_known_layout_takes_the_general_path(value):
    """A payload byte that breaks the varint (same length, same structural bytes): the plan must not
    guess; the general path answers exactly as a decoder without plans does."""
    spec = {"s": FixedLenFeature([], "int64"), "x": FixedLenFeature([1], "float32")}
    good = make_example({"s": value, "x": [1.0]}).SerializeToString()
    dec = ExampleDecoder(spec)
    dec(good)
    plain = ExampleDecoder(spec)
    plain._layouts.enabled = False
    fb = Example.FromString(good).features.feature["s"].SerializeToString()
    at = good.index(fb) + len(fb) - 1  # the last byte of the varint
    for byte in (0x80, 0xFF):
        bad = bytearray(good)
        bad[at] = byte
        bad = bytes(bad)
        try:
            want = plain(bad)
        except DanluError as exc:
            with pytest.raises(DanluError, match=str(exc)[:20]):
                dec(bad)
        else:
            _same(dec(bad), want)


def test_layouts_of_one_shape_share_code_and_unique_lengths_switch_the_cache_off():
    spec = {"x": FixedLenFeature([], "float32"), "blob": RawFeature([2], "uint8")}
    dec = ExampleDecoder(spec)
    # another length, same shape: an extra feature the spec ignores, of growing size
    recs = [make_example({"x": 1.5, "blob": b"ab", "pad": b"." * k}).SerializeToString() for k in range(100)]
    for r in recs[:2] * 2:
        dec(r)
    p0, p1 = (dec._layouts.plans[len(r)] for r in recs[:2])
    assert p0 is not p1 and p0.__code__ is p1.__code__
    outs = [dec(r) for r in recs]  # every length new: the cache switches itself off
    assert not dec._layouts.enabled
    assert all(float(o["x"]) == 1.5 and o["blob"].tolist() == [97, 98] for o in outs)
