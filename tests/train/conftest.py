"""Shared fixtures for the trainer tests: a tiny, seconds-long config."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from danlu.train import TrainConfig, apply_overrides

TINY = ["data.name=digits", "data.args={flatten: true}", "data.batch_size=32", "model.name=mlp",
        "model.args={depth: 2, width: 32, dropout: 0.1}", "optim.lr=0.01", "loop.epochs=2", "log.progress=false",
        "log.every_steps=5"]


@pytest.fixture
def tiny(tmp_path: pathlib.Path):
    """``tiny(*overrides)`` -> a TrainConfig of a ~1 s digits MLP run writing under tmp_path."""

    def make(*overrides: str, out: str = "run") -> TrainConfig:
        return apply_overrides(TrainConfig(), [*TINY, f"out_dir={tmp_path / out}", *overrides])

    return make


def run_python(args: list[str], *, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python args...`` single-threaded (so float results are bit-reproducible across runs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
