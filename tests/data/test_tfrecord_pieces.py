"""The hot reader across piece boundaries (reader.PIECE shrunk so frames straddle pieces): same
records, offsets and damage reports as the written list and the careful frame-by-frame reader."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danlu.data.tfrecord import CorruptRecordError, read_records, scan_records, write_records
from danlu.data.tfrecord import reader as R


@settings(max_examples=40, deadline=None)
@given(recs=st.lists(st.binary(max_size=300), max_size=25), piece=st.sampled_from([1, 7, 13, 64, 257, 4096]),
       comp=st.sampled_from([None, "gzip", "zlib"]))
def test_records_and_offsets_across_pieces(tmp_path_factory, recs, piece, comp):
    path = str(tmp_path_factory.mktemp("p") / ("x.tfrecord" + {None: "", "gzip": ".gz", "zlib": ".zz"}[comp]))
    write_records(path, recs, compression=comp)
    old = R.PIECE
    R.PIECE = piece
    try:
        assert list(read_records(path, compression=comp)) == recs
        pairs = list(read_records(path, compression=comp, with_offsets=True))
        assert [d for _, d in pairs] == recs
        assert [o for o, _, _ in scan_records(path, compression=comp)] == [o for o, _ in pairs]
        if len(pairs) > 2:  # a byte range from the offsets, as an index gives them
            a, b = pairs[1][0], pairs[-1][0]
            assert list(read_records(path, compression=comp, start=a, stop=b)) == recs[1:-1]
    finally:
        R.PIECE = old


@pytest.mark.parametrize("piece", [5, 100, 1 << 20])
def test_damage_is_reported_with_its_offset_across_pieces(tmp_path, monkeypatch, piece):
    monkeypatch.setattr(R, "PIECE", piece)
    recs = [bytes([i]) * (40 + i) for i in range(30)]
    path = str(tmp_path / "x.tfrecord")
    write_records(path, recs)
    offs = [o for o, _ in read_records(path, with_offsets=True)]
    good = (tmp_path / "x.tfrecord").read_bytes()
    raw = bytearray(good)
    raw[offs[17] + 12 + 3] ^= 0xFF  # a data byte of record 17
    bad = str(tmp_path / "bad.tfrecord")
    (tmp_path / "bad.tfrecord").write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordError, match=f"offset {offs[17]}: data CRC mismatch"):
        list(read_records(bad))
    (tmp_path / "bad.tfrecord").write_bytes(good[:offs[20] + 30])  # truncated inside record 20
    with pytest.raises(CorruptRecordError, match=f"offset {offs[20]}: truncated"):
        list(read_records(bad))
    with pytest.warns(UserWarning, match="stopped reading"):
        got = list(read_records(bad, verify=False))
    assert got == recs[:20]
    assert os.path.getsize(bad) == offs[20] + 30
