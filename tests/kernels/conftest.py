"""Shared fixtures for the kernel tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def run_under_triton_interpreter(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Run a test file's kernel tests on CPU with TRITON_INTERPRET=1 in a fresh interpreter.

    TRITON_INTERPRET must be set before triton is imported, so the file runs in a subprocess with
    the same marker expression as this session (default: not slow and not gpu).
    """

    def run(test_file: str) -> None:
        env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
        markexpr = request.config.getoption("markexpr") or "not slow and not gpu"
        cmd = [sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider", "-m", markexpr,
               "-k", "not test_kernels_under_triton_interpreter"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200,
                           cwd=Path(__file__).resolve().parents[2])
        assert r.returncode == 0, f"interpreter run failed:\n{r.stdout[-8000:]}\n{r.stderr[-3000:]}"
        assert " passed" in r.stdout, r.stdout[-2000:]

    return run
