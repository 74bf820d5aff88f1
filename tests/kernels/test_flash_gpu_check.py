"""benchmarks/gpu_check.sh and DANLU_TRITON_TUNE: the prepared GPU check's CPU-visible behaviour.

Reference: the script's documented contract (usage error and exit 2 without CUDA, one pytest step with
``DANLU_TRITON_TUNE=first`` then the four benchmark tables with full tuning, a summary table) checked
with a stand-in ``PYTHON`` that reports a GPU, and :func:`tune_configs` against the config lists.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytest.importorskip("triton")

from danlu.errors import DanluError  # noqa: E402
from danlu.kernels._triton_utils import TUNE_ENV, tune_configs  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "gpu_check.sh"
needs_bash = pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None,
                                reason="needs bash and coreutils timeout")

FAKE_PY = """#!/bin/bash
case "$*" in
  *get_device_name*) echo "Stand-in GPU";;
  *is_available*) exit 0;;
  *triton.__version__*) echo "torch t, Triton t";;
  *attention_gpu*) echo "| $* TUNE=$DANLU_TRITON_TUNE |" > "${@: -1}";;
  *"-m pytest"*) echo "ARGS $* TUNE=$DANLU_TRITON_TUNE";;
esac
"""


def _run(args, **env):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env}, cwd=ROOT)


@needs_bash
def test_usage_error_without_outdir():
    r = _run([])
    assert r.returncode == 2 and "usage: benchmarks/gpu_check.sh OUTDIR" in r.stderr


@needs_bash
def test_fails_clearly_without_cuda(tmp_path):
    r = _run([str(tmp_path / "out")], PYTHON=str(tmp_path / "no-such-python"))
    assert r.returncode == 2 and "CUDA is not available" in r.stderr
    assert not (tmp_path / "out" / "summary.md").exists()


@needs_bash
def test_steps_and_summary_with_a_stand_in_gpu(tmp_path):
    fake = tmp_path / "fakepy"
    fake.write_text(FAKE_PY)
    fake.chmod(0o755)
    out = tmp_path / "out"
    r = _run([str(out)], PYTHON=str(fake))
    assert r.returncode == 0, r.stderr
    assert "-m gpu" in (out / "pytest_gpu.log").read_text() and "TUNE=first" in (out / "pytest_gpu.log").read_text()
    summary = (out / "summary.md").read_text()
    assert "Stand-in GPU" in summary and summary.count("| passed |") == 5
    for table in ("flash_d64", "flash_d128", "linear_d64", "linear_d128"):
        text = (out / f"{table}.md").read_text()
        assert "TUNE=full" in text and text in summary


def test_tune_configs_first_or_full(monkeypatch):
    configs = ["a", "b", "c"]
    monkeypatch.delenv(TUNE_ENV, raising=False)
    assert tune_configs(configs) == configs
    monkeypatch.setenv(TUNE_ENV, "first")
    assert tune_configs(configs) == ["a"]
    monkeypatch.setenv(TUNE_ENV, "fast")
    with pytest.raises(DanluError, match=TUNE_ENV):
        tune_configs(configs)


@pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1", reason="the interpreter never autotunes")
def test_launchers_autotune_one_config_when_limited(monkeypatch):
    from danlu.kernels.flash_attention import triton as fa
    from danlu.kernels.linear_attention import triton as la

    monkeypatch.setenv(TUNE_ENV, "first")
    monkeypatch.setattr(fa, "_TUNED", {})
    monkeypatch.setattr(la, "_TUNED", {})
    kernel, _ = fa._launcher("fwd", 128)
    assert kernel.configs == fa._CONFIGS["fwd"]["large"][:1]
    assert la._launcher("state_fwd").configs == la._WARP_CONFIGS[:1]
    monkeypatch.setenv(TUNE_ENV, "full")
    monkeypatch.setattr(fa, "_TUNED", {})
    assert len(fa._launcher("dq", 64)[0].configs) == len(fa._CONFIGS["dq"]["small"]) > 1
