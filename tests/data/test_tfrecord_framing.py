"""TFRecord framing and CRC: golden bytes, an independent bitwise CRC-32C, the `tfrecord` package's writer,
hypothesis round trips for every compression, detection, indexes."""

from __future__ import annotations

import gzip
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from danlu.data.tfrecord import (
    TFRecordWriter,
    build_index,
    count_records,
    crc32c,
    create_index,
    frame,
    mask_crc,
    masked_crc32c,
    read_index,
    read_records,
    unmask_crc,
    write_records,
)
from danlu.data.tfrecord.compression import detect
from danlu.errors import DanluError


def crc32c_bitwise(data: bytes) -> int:
    """CRC-32C by the definition (reflected polynomial 0x82F63B78), independent of google-crc32c."""
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def test_crc32c_check_value_and_bitwise_reference():
    assert crc32c(b"123456789") == 0xE3069283  # the catalogued CRC-32C check value
    for data in (b"", b"a", b"hello world", bytes(range(256)) * 3):
        assert crc32c(data) == crc32c_bitwise(data)


def test_mask_by_hand():
    # crc 0 rotates to 0, so the masked value is the delta itself
    assert mask_crc(0) == 0xA282EAD8
    # 0x00008000 >> 15 = 1 ; (0x8000 << 17) mod 2**32 = 0 -> 1 + delta
    assert mask_crc(0x8000) == 0xA282EAD9
    # 1 << 17 from the left rotation
    assert mask_crc(1) == (0x20000 + 0xA282EAD8) & 0xFFFFFFFF
    for c in (0, 1, 0xDEADBEEF, 0xFFFFFFFF):
        assert unmask_crc(mask_crc(c)) == c


def test_golden_frames():
    # empty record: 8 zero bytes, masked crc of them, no data, masked crc of b"" = mask(0) = d8 ea 82 a2
    assert frame(b"").hex() == "0000000000000000" + "29039807" + "" + "d8ea82a2"
    assert frame(b"hello").hex() == "0500000000000000" + "eab2043e" + b"hello".hex() + "bb1f1c19"
    head = struct.pack("<Q", 5)
    assert struct.unpack("<I", bytes.fromhex("eab2043e"))[0] == mask_crc(crc32c_bitwise(head))
    assert masked_crc32c(b"hello") == struct.unpack("<I", bytes.fromhex("bb1f1c19"))[0]


def test_same_bytes_as_tfrecord_package_writer(tmp_path):
    from tfrecord.writer import TFRecordWriter as PeerWriter

    recs = [b"", b"x", bytes(range(200)), b"\xff" * 70000]
    peer = tmp_path / "peer.tfrecord"
    w = PeerWriter(str(peer))
    for r in recs:
        _peer_write(w, r)
    w.close()
    ours = tmp_path / "ours.tfrecord"
    write_records(ours, recs)
    assert ours.read_bytes() == peer.read_bytes()
    assert list(read_records(peer)) == recs


def _peer_write(w, record: bytes) -> None:
    # the tfrecord package's writer frames raw bytes with its own masked-crc code
    length = len(record)
    length_bytes = struct.pack("<Q", length)
    w.file.write(length_bytes)
    w.file.write(w.masked_crc(length_bytes))
    w.file.write(record)
    w.file.write(w.masked_crc(record))


records_st = st.lists(st.binary(max_size=300), max_size=20)


@pytest.mark.parametrize("comp", [None, "gzip", "zlib"])
@settings(max_examples=25, deadline=None)
@given(records=records_st)
def test_round_trip_all_compressions(tmp_path_factory, comp, records):
    path = tmp_path_factory.mktemp("rt") / "f.tfrecord"
    assert write_records(path, records, compression=comp) == len(records)
    assert list(read_records(path)) == records  # compression detected from the file
    assert list(read_records(path, compression=comp)) == records
    idx = build_index(path)
    assert idx.shape == (len(records), 2)
    assert (idx[:, 1] == np.array([16 + len(r) for r in records], dtype=np.int64)).all()
    assert count_records(path) == len(records)


def test_compressed_files_are_standard_streams(tmp_path):
    recs = [b"abc", b"defg"]
    write_records(tmp_path / "a.gz", recs, compression="gzip")
    write_records(tmp_path / "a.zz", recs, compression="zlib")
    plain = b"".join(frame(r) for r in recs)
    assert gzip.decompress((tmp_path / "a.gz").read_bytes()) == plain
    assert zlib.decompress((tmp_path / "a.zz").read_bytes()) == plain
    assert detect(tmp_path / "a.gz") == "gzip" and detect(tmp_path / "a.zz") == "zlib"


def test_multi_member_gzip_reads_as_one_stream(tmp_path):
    p = tmp_path / "m.gz"
    p.write_bytes(gzip.compress(frame(b"one")) + gzip.compress(frame(b"two")))
    assert list(read_records(p)) == [b"one", b"two"]


def test_detect_uncompressed_even_when_length_looks_like_zlib(tmp_path):
    rec = b"z" * 0x0178  # length bytes 78 01: a valid zlib header
    p = tmp_path / "tricky.tfrecord"
    write_records(p, [rec])
    assert p.read_bytes()[:2] == b"\x78\x01"
    assert detect(p) is None
    assert list(read_records(p)) == [rec]


def test_large_records_span_chunks(tmp_path):
    recs = [bytes([i]) * (3 << 20) for i in range(4)]  # 3 MiB each, chunks are 4 MiB
    for comp in (None, "gzip"):
        p = tmp_path / f"big-{comp}"
        write_records(p, recs, compression=comp)
        assert list(read_records(p)) == recs


def test_start_stop_and_offsets(tmp_path):
    recs = [bytes([i]) * i for i in range(10)]
    for comp in (None, "zlib"):
        p = tmp_path / f"s-{comp}"
        write_records(p, recs, compression=comp)
        idx = build_index(p)
        got = list(read_records(p, start=int(idx[3, 0]), stop=int(idx[7, 0])))
        assert got == recs[3:7]
        offs = [o for o, _ in read_records(p, with_offsets=True)]
        assert offs == idx[:, 0].tolist()


def test_index_file_round_trip_and_tfrecord_package_format(tmp_path):
    from tfrecord.tools.tfrecord2idx import create_index as peer_create_index

    recs = [b"a" * i for i in range(7)]
    p = tmp_path / "i.tfrecord"
    write_records(p, recs)
    idx = create_index(p)
    assert np.array_equal(read_index(str(p) + ".index"), idx)
    peer_create_index(str(p), str(tmp_path / "peer.index"))
    assert np.array_equal(read_index(tmp_path / "peer.index"), idx)
    assert count_records(p, index_path=tmp_path / "peer.index") == 7


def test_writer_accepts_messages_and_rejects_other_things(tmp_path):
    from danlu.data.tfrecord import make_example

    ex = make_example({"a": 1})
    with TFRecordWriter(tmp_path / "w.tfrecord") as w:
        w.write(ex)
        with pytest.raises(DanluError, match="bytes or a protobuf message"):
            w.write(123)
    assert list(read_records(tmp_path / "w.tfrecord")) == [ex.SerializeToString()]


def test_bad_compression_name(tmp_path):
    with pytest.raises(DanluError, match="unknown compression 'lz4'"):
        write_records(tmp_path / "x", [b"a"], compression="lz4")
    with pytest.raises(DanluError, match="unknown compression"):
        list(read_records(tmp_path / "x", compression="bz2"))


def test_read_index_rejects_garbage(tmp_path):
    p = tmp_path / "bad.index"
    p.write_text("1 2 3\n4 5 6\n")
    with pytest.raises(DanluError, match="2 columns"):
        read_index(p)
