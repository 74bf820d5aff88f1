"""Bytes features (``FixedLenFeature(shape, "bytes")``) through the fast paths: the per-layout plan,
the per-record view decoder and the vectorised batch decoder, each against the full protobuf parse
(the reference), and files written by the ``tfrecord`` package read against that package's reader."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danlu.data.tfrecord import (
    Example,
    ExampleDecoder,
    FixedLenFeature,
    TFRecordDataset,
    VarLenFeature,
    make_example,
)
from danlu.data.tfrecord.spec import _Field

SPEC = {"img": FixedLenFeature([], "bytes"), "pair": FixedLenFeature([2], "bytes"),
        "label": FixedLenFeature([], "int64"), "x": FixedLenFeature([4], "float32"),
        "name": FixedLenFeature([], "bytes", default_value=b"?")}
# lengths around the varint boundaries of the value and of the enclosing list
blob = st.one_of(st.binary(max_size=3), st.sampled_from([0, 126, 127, 128, 129, 16383, 16384]).map(bytes))
row_st = st.tuples(blob, st.lists(st.binary(max_size=130), min_size=2, max_size=2), st.integers(-(2**63), 2**63 - 1),
                   st.lists(st.floats(width=32, allow_nan=False), min_size=4, max_size=4),
                   st.one_of(st.none(), st.binary(max_size=5)))


def _record(row) -> bytes:
    img, pair, label, x, name = row
    feats = {"img": {"bytes": [img]}, "pair": {"bytes": pair}, "label": label, "x": x}
    if name is not None:
        feats["name"] = {"bytes": [name]}
    return make_example(feats).SerializeToString()


def _reference(rec: bytes, spec=SPEC) -> dict[str, np.ndarray]:
    fmap = Example.FromString(rec).features.feature
    return {name: _Field(name, sp).decode(fmap) for name, sp in spec.items()}


def _same(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
        assert np.array_equal(got[k], want[k]), k
        if want[k].dtype == object:
            assert all(type(v) is bytes for v in got[k].reshape(-1)), k


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row_st, min_size=1, max_size=8))
def test_bytes_features_plan_and_batch_equal_full_parse(rows):
    recs = [_record(r) for r in rows] * 2  # repeats: the second record of a length goes through its plan
    dec = ExampleDecoder(SPEC)
    for rec in recs:
        _same(dec(rec), _reference(rec))
    assert dec._layouts.hits > 0
    batch = ExampleDecoder(SPEC).decode_batch(recs)
    for name in SPEC:
        want = np.stack([_reference(r)[name] for r in recs])
        assert batch[name].dtype == want.dtype and batch[name].shape == want.shape, name
        assert np.array_equal(batch[name], want), name


def test_bytes_plan_is_used_and_the_view_path_skips_the_full_parse(monkeypatch):
    recs = [_record((bytes([i]) * 300, [b"a", b"bc"], i, [0.5] * 4, None)) for i in range(10)]
    dec = ExampleDecoder(SPEC)
    outs = [dec(r) for r in recs]
    assert dec._layouts.hits == 9 and len(dec._layouts.plans) == 1
    assert outs[7]["img"][()] == bytes([7]) * 300 and outs[7]["pair"].tolist() == [b"a", b"bc"]
    assert outs[7]["name"][()] == b"?" and int(outs[7]["label"]) == 7
    # without plans (unique lengths), bytes come from the raw Feature bytes: no full Example parse
    import danlu.data.tfrecord.spec as spec_mod

    def no_full_parse(cls, record):
        raise AssertionError("full parse")

    monkeypatch.setattr(spec_mod, "_parse", no_full_parse)
    plain = ExampleDecoder(SPEC)
    plain._layouts.enabled = False
    for r in recs:
        _same(plain(r), outs[recs.index(r)])


def test_varlen_bytes_and_wrong_counts_fall_back_with_the_reference_error():
    spec = {"v": VarLenFeature("bytes"), "one": FixedLenFeature([], "bytes")}
    rec = make_example({"v": {"bytes": [b"x", b"", b"yz"]}, "one": {"bytes": [b"q"]}}).SerializeToString()
    dec = ExampleDecoder(spec)
    for _ in range(3):
        _same(dec(rec), _reference(rec, spec))
    two = make_example({"v": {"bytes": []}, "one": {"bytes": [b"q", b"r"]}}).SerializeToString()
    from danlu.errors import DanluError

    for _ in range(3):
        with pytest.raises(DanluError, match="'one' has 2 values"):
            dec(two)
    with pytest.raises(DanluError, match="'one' has 2 values"):
        dec.decode_batch([two, two])


def _package_file(path, n: int) -> list[dict]:
    tfw = pytest.importorskip("tfrecord.writer")
    rng = np.random.default_rng(0)
    rows = [{"image": rng.integers(0, 256, 3072, dtype=np.uint8).tobytes(), "label": int(rng.integers(-5, 10**12)),
             "x": rng.random(4).astype(np.float32)} for _ in range(n)]
    w = tfw.TFRecordWriter(str(path))
    for r in rows:
        w.write({"image": (r["image"], "byte"), "label": (r["label"], "int"), "x": (r["x"].tolist(), "float")})
    w.close()
    return rows


PKG_SPEC = {"image": FixedLenFeature([], "bytes"), "label": FixedLenFeature([], "int64"),
            "x": FixedLenFeature([4], "float32")}


@pytest.mark.parametrize("batch_size", [None, 7])
def test_tfrecord_package_file_reads_as_the_package_reads_it(tmp_path, batch_size):
    """A file from the ``tfrecord`` package's writer: danlu's dataset (CRC on) == the package's loader."""
    reader = pytest.importorskip("tfrecord.reader")
    p = tmp_path / "pkg.tfrecord"
    _package_file(p, 40)
    want = list(reader.tfrecord_loader(str(p), None, {"image": "byte", "label": "int", "x": "float"}))
    ds = TFRecordDataset(p, decode=PKG_SPEC, batch_size=batch_size)
    if batch_size is None:
        got = list(ds)
    else:
        batches = list(ds)
        assert all(b["image"].shape == (len(b["label"]),) and b["image"].dtype == object for b in batches)
        got = [{k: v[i:i + 1].reshape(v.shape[1:]) for k, v in b.items()} for b in batches for i in range(len(b["label"]))]
    assert len(got) == len(want) == 40
    for g, w in zip(got, want):
        assert g["image"].shape == () and g["image"][()] == w["image"]
        assert int(g["label"]) == int(w["label"][0]) and g["label"].dtype == np.int64
        assert g["x"].dtype == np.float32 and np.array_equal(g["x"], w["x"])
    if batch_size is None:
        assert ds.decode.decoder._layouts.hits >= 30  # plans (one per label varint width) decoded them
