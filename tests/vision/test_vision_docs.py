"""Every ```python block of docs/vision.md runs (the examples are the documentation's promises)."""

from __future__ import annotations

import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "vision.md"
BLOCKS = re.findall(r"```python\n(.*?)\n```", DOC.read_text(), re.S)


def test_the_doc_has_examples() -> None:
    assert len(BLOCKS) >= 8


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_example_runs(i: int, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert "assert " in BLOCKS[i], f"example {i} must state its promise with an assert"
    exec(compile(BLOCKS[i], f"docs/vision.md block {i}", "exec"), {"__name__": "__doc_example__"})
