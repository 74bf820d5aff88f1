"""The README opens with the two set-up commands, and .ci/run runs the README's test command."""

from __future__ import annotations

import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _block_after(marker: str, text: str) -> str:
    m = re.search(re.escape(marker) + r"\s*```bash\n(.*?)\n```", text, re.S)
    assert m, f"no ```bash block after {marker}"
    return m.group(1).strip()


def test_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    main = _block_after("<!-- main-command -->", text)
    tests = _block_after("<!-- test-command -->", text)
    assert "\n" not in main and "\n" not in tests, "each set-up command is one line"
    assert "pip install" in main and main.endswith("danlu lab")
    assert "pip install" in tests and "[dev]" in tests and tests.endswith("pytest")
    # they come before any other code block
    first_block = text.index("```")
    assert first_block > text.index("<!-- main-command -->")


def test_ci_extracts_the_readme_test_command():
    text = (ROOT / "README.md").read_text()
    script = (ROOT / ".ci" / "run").read_text()
    awk = re.search(r"cmd=\$\(awk '(.*?)' README.md\)", script).group(1)
    out = subprocess.run(["awk", awk, str(ROOT / "README.md")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == _block_after("<!-- test-command -->", text)
