"""Run the ``danlu`` command in a subprocess and check the one-line-error contract.

(A uniquely named module: tests/ is not a package.)
"""

from __future__ import annotations

import os
import subprocess
import sys


def danlu(*args: str, stdin: bytes | str | None = None, cwd: str | os.PathLike | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m danlu ARGS`` on one thread; stdout/stderr captured as text."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    data = stdin.encode() if isinstance(stdin, str) else stdin
    proc = subprocess.run([sys.executable, "-m", "danlu", *args], input=data, capture_output=True, cwd=cwd,
                          timeout=timeout, env=env)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode("utf-8", "replace"),
                                       proc.stderr.decode("utf-8", "replace"))


def in_process(capsys, *args: str) -> subprocess.CompletedProcess:
    """``danlu ARGS`` through :func:`danlu.cli.main` in this process (no interpreter start-up), captured
    like :func:`danlu`; for the variants of a case whose subprocess test already exists."""
    from danlu.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return subprocess.CompletedProcess(["danlu", *args], code, out.out, out.err)


def assert_one_line(proc: subprocess.CompletedProcess, *needles: str, code: int = 2, kind: str = "error") -> str:
    """Exit ``code``, exactly one stderr line ``danlu VERB: KIND: ...`` containing every needle, no traceback."""
    err = proc.stderr
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert proc.returncode == code, (proc.returncode, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("danlu ") and f": {kind}: " in lines[0], lines[0]
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]
