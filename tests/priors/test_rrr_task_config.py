"""The rrr task runs through `danlu train` (configs/decoy_rrr.yaml), and weight=0 is plain classification."""

from __future__ import annotations

import json
import pathlib

from danlu.cli import main
from danlu.train.tasks import TASKS

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_rrr_is_registered_and_trains_from_the_config(tmp_path):
    assert TASKS.get("rrr").name == "rrr"
    out = tmp_path / "run"
    rc = main(["train", str(ROOT / "configs" / "decoy_rrr.yaml"), "loop.max_steps=6", "loop.epochs=1",
               "log.progress=false", "log.every_steps=2", "--out", str(out)])
    assert rc == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["steps"] == 6 and 0.0 <= m["test_accuracy"] <= 1.0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert any(k.endswith("penalty") for r in log for k in r), log[:3]
