"""Helpers shared by the trainer tests (a uniquely named module: tests/ is not a package)."""

from __future__ import annotations

import os
import subprocess
import sys

TINY = ["data.name=digits", "data.args={flatten: true}", "data.batch_size=32", "model.name=mlp",
        "model.args={depth: 2, width: 32, dropout: 0.1}", "optim.lr=0.01", "loop.epochs=2", "log.progress=false",
        "log.every_steps=5"]


def run_python(args: list[str], *, timeout: float = 240, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``python args...`` single-threaded (so float results are bit-reproducible across runs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc
