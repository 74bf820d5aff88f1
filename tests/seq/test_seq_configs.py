"""``danlu train`` on the two date configs (shortened): the run reports BLEU and exact match; doctests."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys

import pytest

import danlu.seq
import danlu.seq.data
import danlu.seq.dates
import danlu.seq.rnn
import danlu.seq.vocab
from danlu.metrics import bleu_score

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


ARGS = ["loop.max_steps=3", "data.args.n=120", "data.eval_batch_size=64", "--quiet"]


@pytest.mark.parametrize("config", ["dates_seq2seq.yaml", "dates_transformer.yaml"])
def test_date_config_trains_and_reports_bleu(config, tmp_path, capsys) -> None:
    from danlu.cli import main

    out = tmp_path / "run"
    assert main(["train", os.path.join(ROOT, "configs", config), *ARGS, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    flat = json.dumps(metrics)
    assert "val_bleu" in flat and "val_exact_match" in flat and "test_bleu" in flat


@pytest.mark.slow
def test_danlu_train_command(tmp_path) -> None:
    """The same through the installed command, in a subprocess."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "danlu", "train", os.path.join(ROOT, "configs", "dates_seq2seq.yaml"),
                           *ARGS, "--out", str(tmp_path / "run")], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "val_exact_match" in (tmp_path / "run" / "metrics.json").read_text()


@pytest.mark.parametrize("mod", [danlu.seq, danlu.seq.vocab, danlu.seq.dates, danlu.seq.data, danlu.seq.rnn,
                                 bleu_score])
def test_doctests(mod) -> None:
    assert doctest.testmod(mod).failed == 0
