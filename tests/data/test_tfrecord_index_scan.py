"""The header-hopping index scan (pieces for small frames, one header read after a large frame) against
the careful frame reader (the reference), the tfrecord package's index, and damage reports."""

from __future__ import annotations

import numpy as np
import pytest

from danlu.data.tfrecord import CorruptRecordError, build_index, frame, write_records
from danlu.data.tfrecord.index import SCAN_PIECE, _scan_uncompressed
from danlu.data.tfrecord.reader import _frames


def _reference(path) -> np.ndarray:
    rows = [(off, 16 + len(data)) for off, data, problem in _frames(str(path), None, True)]
    return np.array(rows, dtype=np.int64).reshape(-1, 2)


# small frames, frames straddling a piece, frames far larger than a piece, and back
SIZES = [0, 1, 5, 3000] * 30 + [SCAN_PIECE - 20, SCAN_PIECE // 4 + 1, 3 * SCAN_PIECE, 7, 7, SCAN_PIECE // 4 - 16, 9]


def test_scan_equals_the_frame_reader(tmp_path):
    p = tmp_path / "f.tfrecord"
    rng = np.random.default_rng(0)
    write_records(p, [rng.bytes(n) for n in SIZES])
    got = build_index(p)
    assert got.dtype == np.int64 and got.shape == (len(SIZES), 2)
    assert np.array_equal(got, _reference(p))
    assert np.array_equal(got[:, 1], np.array(SIZES) + 16)


def test_empty_file_has_an_empty_index(tmp_path):
    p = tmp_path / "e.tfrecord"
    p.write_bytes(b"")
    assert build_index(p).shape == (0, 2)


def test_same_index_as_the_tfrecord_package(tmp_path):
    tools = pytest.importorskip("tfrecord.tools.tfrecord2idx")
    p = tmp_path / "f.tfrecord"
    write_records(p, [bytes(n) for n in SIZES])
    tools.create_index(str(p), str(tmp_path / "f.index"))
    assert np.array_equal(build_index(p), np.loadtxt(tmp_path / "f.index", dtype=np.int64))


@pytest.mark.parametrize("k", [3, 120, 123])  # a small frame, the frame after a large one, the last one
@pytest.mark.parametrize("damage", ["length-crc", "truncate"])
def test_damage_is_reported_at_its_offset(tmp_path, k, damage):
    recs = [bytes([i % 251]) * n for i, n in enumerate(SIZES)]
    offs = np.cumsum([0] + [16 + len(r) for r in recs])
    data = bytearray(b"".join(frame(r) for r in recs))
    if damage == "length-crc":
        data[offs[k] + 9] ^= 0x40  # a byte of the length's CRC
        want = "length CRC mismatch"
    else:
        data = data[:offs[k] + 12 + len(recs[k]) // 2 + 1]  # cut inside frame k
        want = "truncated"
    p = tmp_path / "d.tfrecord"
    p.write_bytes(bytes(data))
    with pytest.raises(CorruptRecordError, match=want) as ei:
        _scan_uncompressed(str(p), True)
    assert ei.value.offset == offs[k] and ei.value.path == str(p)
