"""`danlu lab` and `danlu info` from the command line: outputs and bad-input handling."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch


def danlu(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "danlu", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_help_for_every_verb():
    top = danlu("--help")
    assert top.returncode == 0
    for verb in ("lab", "info"):
        assert verb in top.stdout
        r = danlu(verb, "--help")
        assert r.returncode == 0 and "usage: danlu" in r.stdout


def test_lab_list_names_cards():
    r = danlu("lab", "--list")
    assert r.returncode == 0 and "tr-relu" in r.stdout and "sys-hw" in r.stdout


def _only_run(out):
    """The one run folder ``danlu lab --out OUT`` wrote (runs live in ``OUT/<run-id>/``)."""
    (run,) = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink()]
    return run


def test_lab_only_writes_report(tmp_path):
    out = tmp_path / "rep"
    r = danlu("lab", "--only", "sys-hw", "--out", str(out), "--seed", "3")
    assert r.returncode == 0, r.stderr
    res = json.loads((_only_run(out) / "results.json").read_text())
    assert [c["id"] for c in res["cards"]] == ["sys-hw"] and res["meta"]["seed"] == 3
    assert "sys-hw-roofline.png" in (_only_run(out) / "index.html").read_text()
    assert (_only_run(out) / "figures" / "sys-hw-roofline.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["lab", "--only", "no-such-card"], "unknown card 'no-such-card'; valid: "),
        (["lab", "--area", "astrology"], "unknown area 'astrology'; valid: "),
        (["lab", "--seed", "-1", "--list"], "--seed must be non-negative"),
        (["info", "--time", "0"], "--time must be positive"),
    ],
)
def test_bad_input_one_line_exit_2(args, needle):
    r = danlu(*args)
    assert r.returncode == 2
    assert needle in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unwritable_out(tmp_path):
    f = tmp_path / "f"
    f.write_text("")
    r = danlu("lab", "--only", "sys-hw", "--out", str(f / "x"))
    assert r.returncode == 2 and "not a writable directory" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_cuda():
    r = danlu("lab", "--only", "sys-hw", "--device", "cuda")
    assert r.returncode == 2 and "CUDA is not available" in r.stderr and "Traceback" not in r.stderr


def test_info_json_has_measured_numbers():
    r = danlu("info", "--device", "cpu", "--json", "--time", "0.02")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    cpu = d["devices"][0]
    assert cpu["device"] == "cpu" and cpu["copy_GBps"] > 0.1 and cpu["matmul_peak_measured_TFLOPs"] > 0
    assert d["versions"]["torch"] == torch.__version__


def test_card_error_gives_exit_1(tmp_path, monkeypatch):
    import dataclasses

    from danlu.cli import main
    from danlu.lab import CARDS, get_card

    broken = dataclasses.replace(get_card("sys-hw"), quick={"sizes": "not-a-list"})
    monkeypatch.setitem(CARDS._entries, "sys-hw", broken)
    assert main(["lab", "--only", "sys-hw", "--out", str(tmp_path)]) == 1
    res = (_only_run(tmp_path) / "results.json").read_text()
    assert '"verdict": "error"' in res
