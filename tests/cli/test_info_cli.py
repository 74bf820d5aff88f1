"""``danlu info --json`` uses JSON types: booleans and counts are not strings."""

from __future__ import annotations

import json
import os

import torch

from danlu.cli import main


def test_info_json_types(capsys):
    assert main(["info", "--device", "cpu", "--json", "--time", "0.01"]) == 0
    v = json.loads(capsys.readouterr().out)["versions"]
    assert v["cuda available"] is torch.cuda.is_available()
    assert v["cpu cores (os)"] == os.cpu_count() and isinstance(v["cpu cores (os)"], int)
    assert v["torch threads"] == torch.get_num_threads() and isinstance(v["torch threads"], int)
    assert v["cuda (torch build)"] == torch.version.cuda  # None (JSON null) on a CPU build
    assert v["torch"] == torch.__version__
    for key, value in v.items():  # no stringified booleans or numbers anywhere
        assert value not in ("True", "False", "None"), key
        assert not (isinstance(value, str) and value.isdigit()), key


def test_info_table_still_reads_well(capsys):
    assert main(["info", "--device", "cpu", "--time", "0.01"]) == 0
    out = capsys.readouterr().out
    assert "cuda available" in out and ("True" in out or "False" in out)
