"""danlu.files: atomic writes leave the old file or the new one, never half of one or a temp file;
check_output refuses an existing output, the input itself (any spelling), a folder, a missing folder."""

from __future__ import annotations

import os

import pytest

from danlu.errors import DanluError
from danlu.files import AtomicWrite, OutputExistsError, atomic_open, atomic_path, check_output, write_text


def test_atomic_open_replaces_only_on_success(tmp_path):
    p = tmp_path / "out.txt"
    p.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(p, "w") as f:
        f.write("half of the new")
        raise RuntimeError("disk full")
    assert p.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left
    with atomic_open(p, "w") as f:
        f.write("new")
    assert p.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_ctrl_c_inside_the_block_aborts(tmp_path):
    p = tmp_path / "out.bin"
    p.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), atomic_path(p) as tmp:
        tmp.write_bytes(b"new")
        raise KeyboardInterrupt
    assert p.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.bin"]


def test_failed_rename_keeps_old_file_and_removes_temp(tmp_path, monkeypatch):
    p = write_text(tmp_path / "a.txt", "old")

    def boom(src, dst):
        raise OSError("rename failed")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="rename failed"):
        write_text(p, "new")
    monkeypatch.undo()
    assert p.read_text() == "old" and os.listdir(tmp_path) == ["a.txt"]


def test_no_overwrite_commit_refuses_a_file_that_appeared(tmp_path):
    p = tmp_path / "a.txt"
    w = AtomicWrite(p, overwrite=False)
    w.tmp.write_text("mine")
    p.write_text("someone else's")  # appears between the check and the rename
    with pytest.raises(OutputExistsError):
        w.commit()
    assert p.read_text() == "someone else's" and os.listdir(tmp_path) == ["a.txt"]


def test_symlink_target_is_replaced_and_link_kept(tmp_path):
    real = tmp_path / "real.txt"
    real.write_text("old")
    (tmp_path / "link.txt").symlink_to(real)
    write_text(tmp_path / "link.txt", "new")
    assert (tmp_path / "link.txt").is_symlink() and real.read_text() == "new"


def test_mode_of_replaced_file_is_kept(tmp_path):
    p = tmp_path / "a.sh"
    p.write_text("old")
    p.chmod(0o751)
    write_text(p, "new")
    assert p.stat().st_mode & 0o777 == 0o751


def test_check_output(tmp_path, monkeypatch):
    src = tmp_path / "in.txt"
    src.write_text("input")
    (tmp_path / "alias.txt").symlink_to(src)
    os.link(src, tmp_path / "hard.txt")
    monkeypatch.chdir(tmp_path)
    for spelling in ("in.txt", "./in.txt", str(src), "alias.txt", "hard.txt", "sub/../in.txt"):
        (tmp_path / "sub").mkdir(exist_ok=True)
        with pytest.raises(DanluError, match="is the input file"):
            check_output(spelling, overwrite=True, inputs=["in.txt"])
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite"):
        check_output("in.txt")
    assert check_output("in.txt", overwrite=True).name == "in.txt"
    with pytest.raises(DanluError, match="is a directory"):
        check_output(tmp_path, overwrite=True)
    with pytest.raises(DanluError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.txt")
    assert check_output("new.txt", inputs=["in.txt", "-", None]).name == "new.txt"
    assert str(check_output(os.devnull)) == os.devnull  # a device is not a user's file: no refusal


def test_special_target_is_written_in_place():
    w = AtomicWrite(os.devnull)
    assert w.direct and str(w.tmp) == os.devnull
    with atomic_open(os.devnull, "wb") as f:
        f.write(b"x")
    assert os.path.exists(os.devnull)


def test_bad_mode():
    with pytest.raises(DanluError, match="mode"), atomic_open("/tmp/x", "a"):
        pass
