"""Inputs a new user tripped on (issue 22): each ends in one line on stderr and a clear exit code,
never a traceback. Driven through the CLI in a subprocess, as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from cli_testutil import assert_one_line, danlu, in_process

from danlu.data.tfrecord import write_records

GT = {"images": [{"id": 1, "width": 10, "height": 10}, {"id": 2, "width": 10, "height": 10}],
      "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 5, 5], "area": 25, "iscrowd": 0}],
      "categories": [{"id": 1, "name": "a"}]}


@pytest.fixture
def gt(tmp_path):
    p = tmp_path / "gt.json"
    p.write_text(json.dumps(GT))
    return p


@pytest.mark.parametrize("protocol", ["voc", "coco"])
def test_eval_empty_detections_warns_and_gives_zeros(gt, tmp_path, protocol):
    dets = tmp_path / "dets.json"
    dets.write_text("[]")
    proc = danlu("eval", protocol, str(gt), str(dets))
    assert_one_line(proc, "hold no entries", "are 0", code=0, kind="warning")
    out = json.loads(proc.stdout)
    assert (out["mAP"] if protocol == "voc" else out["AP"]) == 0.0


def test_eval_voc_detection_that_meets_no_ground_truth(gt, tmp_path):
    dets = tmp_path / "dets.json"  # image 2 has no object: the detection is a false positive
    dets.write_text(json.dumps([{"image_id": 2, "category_id": 1, "bbox": [0, 0, 5, 5], "score": 0.9}]))
    proc = danlu("eval", "voc", str(gt), str(dets))
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    assert json.loads(proc.stdout)["per_class"]["1"]["AP"] == 0.0


@pytest.mark.parametrize("verb", [["rl", "solve", "--algo", "value_iteration", "--world", "book-5x5"],
                                  ["info", "--device", "cpu", "--time", "0.01"]])
def test_unknown_plot_extension_listed_up_front(tmp_path, verb):
    proc = danlu(*verb, "--plot", str(tmp_path / "p.xyz"))
    assert_one_line(proc, "unknown figure format 'xyz'", "valid:", "png", "svg")
    assert not (tmp_path / "p.xyz").exists()


def test_plot_without_extension(tmp_path):
    proc = danlu("rl", "solve", "--algo", "value_iteration", "--world", "book-5x5", "--plot", str(tmp_path / "p"))
    assert_one_line(proc, "has no extension", "png")


def test_existing_plot_is_not_overwritten(tmp_path):
    mine = tmp_path / "mine.png"
    mine.write_bytes(b"the user's own picture")
    proc = danlu("rl", "solve", "--algo", "value_iteration", "--world", "book-5x5", "--plot", str(mine))
    assert_one_line(proc, "already exists", "--overwrite")
    assert mine.read_bytes() == b"the user's own picture"


def test_closed_pipe_is_quiet():
    """`danlu rl solve ... | head -1`: the reader is gone before danlu writes: exit 0, nothing on stderr."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "danlu", "rl", "solve", "--algo", "value_iteration",
                          "--world", "book-5x5"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdout.close()  # like `head` exiting: every write of danlu now fails with EPIPE
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert err == ""


@pytest.fixture
def truncated(tmp_path):
    p = tmp_path / "t.tfrecord"
    write_records(p, [b"x" * 20] * 3)
    p.write_bytes(p.read_bytes()[:-10])
    return p


def test_cat_no_verify_truncated_file_warns_in_one_line(truncated):
    proc = danlu("tfrecord", "cat", "--raw", "--no-verify", str(truncated))
    line = assert_one_line(proc, "truncated", code=0, kind="warning")
    assert "UserWarning" not in line and "warnings.warn" not in proc.stderr
    assert len(proc.stdout.splitlines()) == 2


def test_verify_a_folder_says_it_is_a_directory(tmp_path):
    assert_one_line(danlu("tfrecord", "verify", str(tmp_path)), "is a directory")


def test_empty_tfrecord_file_is_noted(tmp_path, capsys):
    p = tmp_path / "empty.tfrecord"
    p.write_bytes(b"")
    assert_one_line(danlu("tfrecord", "cat", str(p)), "empty.tfrecord", "no records", code=0, kind="warning")
    for action in ("count", "verify"):
        proc = in_process(capsys, "tfrecord", action, str(p))
        assert_one_line(proc, "empty.tfrecord", "no records", code=0, kind="warning")


def test_ctrl_c_while_writing_leaves_the_old_file(tmp_path):
    """Ctrl-C while `tfrecord write` waits for input: one line, exit 130, old file intact, no temp file."""
    out = tmp_path / "a.tfrecord"
    write_records(out, [b"old"])
    before = out.read_bytes()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen([sys.executable, "-m", "danlu", "tfrecord", "write", str(out), "--overwrite"],
                         stdin=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    p.stdin.write(b'{"a": {"int64": [1]}}\n')
    p.stdin.flush()
    deadline = time.monotonic() + 120
    while not any(n.startswith(".a.tfrecord.tmp") for n in os.listdir(tmp_path)):  # writing has begun
        assert time.monotonic() < deadline and p.poll() is None, p.stderr.read()
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 130, err
    assert err.strip() == "danlu tfrecord: interrupted"
    assert out.read_bytes() == before
    assert os.listdir(tmp_path) == ["a.tfrecord"]
