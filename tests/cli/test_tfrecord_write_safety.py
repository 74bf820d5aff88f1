"""``danlu tfrecord write`` never loses data: an existing output is refused (or replaced only with
--overwrite, and only once every line was written), the input is never the output, and an error
leaves the old file intact and no partial file. Driven through the CLI in a subprocess."""

from __future__ import annotations

import os

import pytest
from cli_testutil import assert_one_line, danlu, in_process

from danlu.data.tfrecord import read_records, write_records

LINES = "".join(f'{{"label": {{"int64": [{i}]}}}}\n' for i in range(3))


@pytest.fixture
def old(tmp_path):
    p = tmp_path / "a.tfrecord"
    write_records(p, [bytes([i]) * 10 for i in range(100)])
    return p


def test_existing_output_is_refused(old):
    before = old.read_bytes()
    proc = danlu("tfrecord", "write", str(old), stdin=LINES)
    assert_one_line(proc, "already exists", "--overwrite")
    assert old.read_bytes() == before


def test_error_on_line_2_leaves_old_file_and_no_partial_file(old):
    before = old.read_bytes()
    proc = danlu("tfrecord", "write", str(old), "--overwrite", stdin='{"label": {"int64": [1]}}\n{bad json\n')
    assert_one_line(proc, "<stdin> line 2", "not JSON")
    assert old.read_bytes() == before
    assert os.listdir(old.parent) == ["a.tfrecord"]


def test_overwrite_replaces_after_success(old, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(LINES)
    proc = in_process(capsys, "tfrecord", "write", str(old), "--overwrite", "--input", str(src))
    assert proc.returncode == 0, proc.stderr
    src.unlink()
    assert len(list(read_records(old))) == 3
    assert os.listdir(old.parent) == ["a.tfrecord"]


def test_output_is_input_is_refused(old):
    before = old.read_bytes()
    (old.parent / "link.tfrecord").symlink_to(old)
    proc = danlu("tfrecord", "write", "a.tfrecord", "--input", "link.tfrecord", "--overwrite", cwd=old.parent)
    assert_one_line(proc, "is the input file")
    assert old.read_bytes() == before


@pytest.mark.parametrize("spelling", ["same", "relative", "hardlink"])
def test_output_is_input_whatever_the_spelling(old, spelling, capsys, monkeypatch):
    before = old.read_bytes()
    monkeypatch.chdir(old.parent)
    os.link(old, old.parent / "hard.tfrecord")
    inp = {"same": str(old), "relative": "./a.tfrecord", "hardlink": "hard.tfrecord"}[spelling]
    assert_one_line(in_process(capsys, "tfrecord", "write", "a.tfrecord", "--input", inp, "--overwrite"),
                    "is the input file")
    assert old.read_bytes() == before


def test_binary_input_is_one_line(old, tmp_path):
    proc = danlu("tfrecord", "write", str(tmp_path / "b.tfrecord"), "--input", str(old))
    assert_one_line(proc, "a.tfrecord line ", "not UTF-8 text")
    assert not (tmp_path / "b.tfrecord").exists()


def test_index_never_overwrites_the_data_or_an_index(old, capsys):
    before = old.read_bytes()
    proc = in_process(capsys, "tfrecord", "index", str(old), "-o", str(old), "--overwrite")
    assert_one_line(proc, "is the input file")
    assert old.read_bytes() == before
    assert in_process(capsys, "tfrecord", "index", str(old)).returncode == 0
    index = old.with_name("a.tfrecord.index")
    assert len(index.read_text().splitlines()) == 100
    index.write_text("mine\n")
    assert_one_line(in_process(capsys, "tfrecord", "index", str(old)), "already exists", "--overwrite")
    assert index.read_text() == "mine\n"
    assert in_process(capsys, "tfrecord", "index", str(old), "--overwrite").returncode == 0
    assert len(index.read_text().splitlines()) == 100
    assert sorted(os.listdir(old.parent)) == ["a.tfrecord", "a.tfrecord.index"]
