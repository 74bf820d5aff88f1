"""Shared fixtures for the kernel tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


def _version(mod: str) -> tuple[int, ...]:
    import importlib

    v = importlib.import_module(mod).__version__.split("+")[0]
    return tuple(int(p) for p in v.split(".")[:2] if p.isdigit())


def _skip_known_interpreter_bug() -> None:
    """Triton 3.6's interpreter calls int() on 1-element arrays for ``range(lo, hi)`` over runtime values,
    which NumPy >= 2.4 refuses ("only 0-dimensional arrays can be converted"). The kernels themselves are
    fine there (they pass the same tests with NumPy 2.3 and compile for sm_90 with Triton 3.6)."""
    if _version("triton") < (3, 7) and _version("numpy") >= (2, 4):
        pytest.skip("Triton < 3.7's interpreter is incompatible with NumPy >= 2.4 (upstream bug); "
                    "install numpy<2.4 to run the interpreter tests with this Triton")


@pytest.fixture
def run_under_triton_interpreter(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """Run a test file's kernel tests on CPU with TRITON_INTERPRET=1 in a fresh interpreter; return its output.

    TRITON_INTERPRET must be set before triton is imported, so the file runs in a subprocess with
    the same marker expression as this session (default: not slow and not gpu).
    """

    def run(test_file: str) -> str:
        _skip_known_interpreter_bug()
        env = {**os.environ, "TRITON_INTERPRET": "1", "OMP_NUM_THREADS": "1"}
        markexpr = request.config.getoption("markexpr") or "not slow and not gpu"
        cmd = [sys.executable, "-m", "pytest", test_file, "-q", "-p", "no:cacheprovider", "-m", markexpr,
               "-k", "not test_kernels_under_triton_interpreter"]
        r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200,
                           cwd=Path(__file__).resolve().parents[2])
        assert r.returncode == 0, f"interpreter run failed:\n{r.stdout[-8000:]}\n{r.stderr[-3000:]}"
        return r.stdout

    return run
