"""docs/select.md's Python examples run as written (one namespace, in order)."""

from __future__ import annotations

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_docs_python_blocks_run():
    text = (ROOT / "docs" / "select.md").read_text()
    blocks = re.findall(r"```python\n(.*?)\n```", text, re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        if block.lstrip().startswith("score("):  # the signature, not an example
            continue
        exec(compile(block, "docs/select.md", "exec"), namespace)  # noqa: S102
    assert namespace["o"].k > 0 and len(namespace["keep"]) == 200
