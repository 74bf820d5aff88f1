"""Byte ranges ``read_records(start=, stop=)`` (the pieces an index gives each DataLoader worker) through
the hot loop: exactly the records that start inside the range, for every range, across piece
boundaries; damage inside a range is reported with its offset, damage outside it is not read."""

from __future__ import annotations

import pytest

from danlu.data.tfrecord import CorruptRecordError, read_records, write_records
from danlu.data.tfrecord import reader as R

RECS = [bytes([i]) * (3 + 11 * i % 50) for i in range(12)]


@pytest.mark.parametrize("piece", [16, 61, 1 << 20])
@pytest.mark.parametrize("comp", [None, "gzip"])
def test_every_range_reads_exactly_its_records(tmp_path, monkeypatch, piece, comp):
    monkeypatch.setattr(R, "PIECE", piece)
    p = str(tmp_path / "r.tfrecord")
    write_records(p, RECS, compression=comp)
    offs = [o for o, _ in read_records(p, with_offsets=True)]
    ends = offs + [offs[-1] + 16 + len(RECS[-1])]
    for a in range(len(RECS) + 1):
        for b in range(a, len(RECS) + 1):
            assert list(read_records(p, start=ends[a], stop=ends[b])) == RECS[a:b], (a, b)


def test_damage_outside_the_range_is_not_read(tmp_path):
    p = tmp_path / "d.tfrecord"
    write_records(p, RECS)
    offs = [o for o, _ in read_records(p, with_offsets=True)]
    raw = bytearray(p.read_bytes())
    raw[offs[6] + 12] ^= 0x01  # a data byte of record 6
    p.write_bytes(bytes(raw))
    assert list(read_records(p, start=offs[0], stop=offs[6])) == RECS[:6]
    assert list(read_records(p, start=offs[7], stop=None)) == RECS[7:]
    with pytest.raises(CorruptRecordError, match=f"offset {offs[6]}: data CRC mismatch"):
        list(read_records(p, start=offs[3], stop=offs[8]))
