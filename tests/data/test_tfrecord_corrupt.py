"""Damaged TFRecord files: each kind of damage is detected and reported with the file and byte offset;
``verify=False`` reads what it can."""

from __future__ import annotations

import gzip
import warnings

import pytest

from danlu.data.tfrecord import (
    CorruptRecordError,
    build_index,
    frame,
    read_records,
    scan_records,
    write_records,
)

RECS = [bytes([65 + i]) * (10 + 7 * i) for i in range(6)]
OFFS = [sum(16 + len(r) for r in RECS[:i]) for i in range(len(RECS))]


def _file(tmp_path, name="f.tfrecord", flip: int | None = None, cut: int | None = None):
    data = bytearray(b"".join(frame(r) for r in RECS))
    if flip is not None:
        data[flip] ^= 0x01
    if cut is not None:
        data = data[:cut]
    p = tmp_path / name
    p.write_bytes(bytes(data))
    return p


def _read_all(p, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return list(read_records(p, **kw))


@pytest.mark.parametrize("where, reason", [
    (0, "length CRC mismatch"),        # a byte of the length
    (9, "length CRC mismatch"),        # a byte of the length's CRC
    (12 + 3, "data CRC mismatch"),     # a byte of the data
    (12 + 10 + 1, "data CRC mismatch"),  # a byte of the data's CRC
])
def test_flipped_byte_in_record_3(tmp_path, where, reason):
    k = 3
    p = _file(tmp_path, flip=OFFS[k] + where)
    with pytest.raises(CorruptRecordError, match=reason) as ei:
        _read_all(p, compression=None)
    err = ei.value
    assert err.path == str(p) and err.offset == OFFS[k]
    assert str(p) in str(err) and f"offset {OFFS[k]}" in str(err)
    # verify=False: nothing is checked; a damaged data byte still reads (wrongly), a damaged length breaks framing
    got = _read_all(p, compression=None, verify=False)
    assert got[:k] == RECS[:k]
    if reason.startswith("data"):
        assert len(got) == len(RECS)


def test_scan_continues_past_bad_data_and_stops_at_bad_length(tmp_path):
    data = bytearray(b"".join(frame(r) for r in RECS))
    data[OFFS[1] + 12] ^= 0xFF  # data of record 1
    data[OFFS[4] + 2] ^= 0xFF  # length of record 4
    p = tmp_path / "two.tfrecord"
    p.write_bytes(bytes(data))
    problems = [(off, prob) for off, _, prob in scan_records(p) if prob is not None]
    assert [off for off, _ in problems] == [OFFS[1], OFFS[4]]
    assert not problems[0][1].fatal and problems[1][1].fatal
    assert "data CRC" in problems[0][1].reason and "length CRC" in problems[1][1].reason


@pytest.mark.parametrize("cut_into", [5, 14, 20])  # header, data, crc of the last record
def test_truncated_file(tmp_path, cut_into):
    last = len(RECS) - 1
    p = _file(tmp_path, cut=OFFS[last] + cut_into)
    with pytest.raises(CorruptRecordError, match="truncated") as ei:
        _read_all(p)
    assert ei.value.offset == OFFS[last]
    with pytest.warns(UserWarning, match="truncated"):
        got = list(read_records(p, verify=False))
    assert got == RECS[:last]
    with pytest.raises(CorruptRecordError, match="truncated"):
        build_index(p)


def test_gzip_with_broken_tail(tmp_path):
    raw = gzip.compress(b"".join(frame(r) for r in RECS))
    p = tmp_path / "broken.tfrecord.gz"
    p.write_bytes(raw[:-6])  # lose part of the gzip trailer
    with pytest.raises(CorruptRecordError, match="gzip stream") as ei:
        _read_all(p)
    assert ei.value.path == str(p)
    assert "decompressed" in str(ei.value)
    assert _read_all(p, verify=False) == RECS  # every record was whole before the tail broke


def test_gzip_cut_in_the_middle(tmp_path):
    recs = [bytes(range(256)) * 40 for _ in range(50)]  # ~500 KiB, compresses to something cuttable
    raw = gzip.compress(b"".join(frame(r) for r in recs))
    p = tmp_path / "half.gz"
    p.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CorruptRecordError) as ei:
        _read_all(p)
    assert str(p) in str(ei.value)
    got = _read_all(p, verify=False)
    assert 0 < len(got) < len(recs) and all(g == recs[0] for g in got)


def test_gzip_with_flipped_byte(tmp_path):
    raw = bytearray(gzip.compress(b"".join(frame(r) for r in RECS)))
    raw[len(raw) // 2] ^= 0xFF
    p = tmp_path / "flip.gz"
    p.write_bytes(bytes(raw))
    with pytest.raises(CorruptRecordError) as ei:
        _read_all(p, compression="gzip")
    assert ei.value.path == str(p)


def test_compressed_read_reports_record_offset_in_decompressed_stream(tmp_path):
    import zlib

    data = bytearray(b"".join(frame(r) for r in RECS))
    data[OFFS[2] + 13] ^= 0x10
    p = tmp_path / "z.zlib"
    p.write_bytes(zlib.compress(bytes(data)))
    with pytest.raises(CorruptRecordError, match="data CRC") as ei:
        _read_all(p)
    assert ei.value.offset == OFFS[2]


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        list(read_records(tmp_path / "nope.tfrecord"))


def test_write_records_then_damage_is_independent_of_reader_buffering(tmp_path):
    # a bad record beyond the first 4 MiB chunk is still reported at its exact offset
    recs = [b"x" * 100_000 for _ in range(60)]
    p = tmp_path / "long.tfrecord"
    write_records(p, recs)
    data = bytearray(p.read_bytes())
    k = 50
    off = k * (100_016)
    data[off + 500] ^= 1
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptRecordError, match=f"offset {off}: data CRC"):
        _read_all(p)
