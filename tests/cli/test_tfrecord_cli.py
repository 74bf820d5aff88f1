"""``danlu tfrecord``: cat/write round trips (byte-identical), count, index, verify exit codes and
one line per damaged record, clear errors for bad input."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from danlu.cli import main
from danlu.data.tfrecord import (
    Example,
    SequenceExample,
    frame,
    make_example,
    make_sequence_example,
    read_index,
    read_records,
    write_records,
)


def _recs():
    return [make_example({"label": i, "x": [0.5 * i, 1.1], "img": bytes([i, 255])}).SerializeToString()
            for i in range(5)]


def test_cat_prints_the_documented_shape(tmp_path, capsys):
    p = tmp_path / "a.tfrecord.gz"
    write_records(p, _recs(), compression="gzip")
    assert main(["tfrecord", "cat", str(p), "--limit", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1]) == {"img": {"bytes": [base64.b64encode(bytes([1, 255])).decode()]},
                                    "label": {"int64": [1]}, "x": {"float": [0.5, 1.1]}}


@pytest.mark.parametrize("comp", ["none", "gzip", "zlib"])
def test_cat_write_round_trip(tmp_path, capsys, monkeypatch, comp):
    import io

    recs = _recs() + [make_sequence_example({"id": 3}, {"tok": [[1], [2, 3]]}).SerializeToString()]
    src = tmp_path / "src.tfrecord"
    write_records(src, recs)
    assert main(["tfrecord", "cat", str(src)]) == 0
    text = capsys.readouterr().out
    assert json.loads(text.splitlines()[-1])["feature_lists"] == {"tok": [{"int64": [1]}, {"int64": [2, 3]}]}
    monkeypatch.setattr("sys.stdin", io.StringIO(text))
    dst = tmp_path / "dst.tfrecord"
    assert main(["tfrecord", "write", str(dst), "--compression", comp]) == 0
    got = list(read_records(dst))
    assert [Example.FromString(r) for r in got[:-1]] == [Example.FromString(r) for r in recs[:-1]]
    assert SequenceExample.FromString(got[-1]) == SequenceExample.FromString(recs[-1])
    # --raw round trip is byte-identical
    assert main(["tfrecord", "cat", "--raw", str(src)]) == 0
    raw = capsys.readouterr().out
    inp = tmp_path / "raw.txt"
    inp.write_text(raw)
    assert main(["tfrecord", "write", str(tmp_path / "r.tfrecord"), "--raw", "--input", str(inp)]) == 0
    assert (tmp_path / "r.tfrecord").read_bytes() == src.read_bytes()


def test_count_and_index(tmp_path, capsys):
    a, b = tmp_path / "a.tfrecord", tmp_path / "b.tfrecord"
    write_records(a, _recs())
    write_records(b, _recs()[:2], compression="zlib")
    assert main(["tfrecord", "count", str(a), str(b)]) == 0
    assert capsys.readouterr().out.split() == ["5", str(a), "2", str(b), "7", "total"]
    assert main(["tfrecord", "index", str(a)]) == 0
    idx = read_index(str(a) + ".index")
    assert idx.shape == (5, 2) and idx[0, 0] == 0
    assert np.array_equal(idx[:, 1], [16 + len(r) for r in _recs()])
    capsys.readouterr()
    assert main(["tfrecord", "count", "--index", str(a)]) == 0
    assert capsys.readouterr().out.split()[0] == "5"


def test_verify_reports_each_damaged_record(tmp_path, capsys):
    recs = _recs()
    good = tmp_path / "good.tfrecord"
    write_records(good, recs)
    data = bytearray(good.read_bytes())
    offs = np.cumsum([0] + [16 + len(r) for r in recs])
    data[offs[1] + 14] ^= 1  # data of record 1
    data[offs[3] + 14] ^= 1  # data of record 3
    bad = tmp_path / "bad.tfrecord"
    bad.write_bytes(bytes(data[:-3]))  # and the last record truncated
    assert main(["tfrecord", "verify", str(good)]) == 0
    assert main(["tfrecord", "verify", str(good), str(bad)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{bad}: offset {offs[1]}: data CRC mismatch ({len(recs[1])}-byte record)"
    assert lines[1].startswith(f"{bad}: offset {offs[3]}: data CRC mismatch")
    assert lines[2].startswith(f"{bad}: offset {offs[4]}: truncated record")
    assert len(lines) == 3


def test_bad_input_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    import io

    assert main(["tfrecord", "cat", str(tmp_path / "missing.tfrecord")]) == 2
    assert "danlu tfrecord: error:" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO('{"a": {"int64": [1]}}\n{"a": {"ints": [1]}}\n'))
    assert main(["tfrecord", "write", str(tmp_path / "o.tfrecord")]) == 2
    err = capsys.readouterr().err
    assert "<stdin> line 2" in err and "got keys ['ints']" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("not json\n"))
    assert main(["tfrecord", "write", str(tmp_path / "o.tfrecord")]) == 2
    assert "not JSON" in capsys.readouterr().err
    p = tmp_path / "t.tfrecord"
    p.write_bytes(frame(b"abc")[:-1])
    assert main(["tfrecord", "cat", "--raw", str(p)]) == 2
    assert f"{p}: offset 0: truncated" in capsys.readouterr().err
    assert main(["tfrecord", "verify", str(tmp_path / "nope")]) == 2
