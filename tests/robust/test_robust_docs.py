"""docs/robust.md's Python examples and the robust modules' doctests run as written."""

from __future__ import annotations

import doctest
import importlib
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[2] / "docs" / "robust.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


@pytest.mark.parametrize("i", range(len(BLOCKS)))
def test_doc_example_runs(i, capsys):
    assert "assert " in BLOCKS[i], f"example {i} must state its promise with an assert"
    exec(compile(BLOCKS[i], f"docs/robust.md block {i}", "exec"), {})


@pytest.mark.parametrize("mod", ["attacks", "embedding", "gaussian", "ant", "corruptions", "corruptions.benchmark"])
def test_doctests(mod):
    m = importlib.import_module(f"danlu.robust.{mod}")
    res = doctest.testmod(m, optionflags=doctest.ELLIPSIS)
    assert res.attempted > 0 and res.failed == 0
