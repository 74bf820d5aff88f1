"""``data.subset`` in ``danlu train``: the kept indices, the run trained on them, and bad options (issue 20)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest
import torch

from danlu.errors import DanluError, UnknownNameError
from danlu.select import SCORES, apply_subset, el2n, subset
from danlu.train import Trainer
from danlu.train.build import build_model, build_optimization
from danlu.train.config import load_config
from danlu.train.data import load_splits

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = ["model.name=mlp", "model.args={depth: 1, width: 16}", "data.name=digits", "data.args={flatten: true}",
        "data.batch_size=64", "loop.epochs=1", "log.progress=false", "checkpoint.every_epochs=0", "seed=3"]


def _cfg(*extra: str, out: pathlib.Path | None = None):
    return load_config(None, [*TINY, *extra, *([f"out_dir={out}"] if out else [])])


def test_apply_subset_keeps_what_subset_of_el2n_keeps():
    cfg = _cfg()
    splits = load_splits(cfg.data, cfg.seed)
    state = torch.get_rng_state()
    got = apply_subset(splits, {"score": "el2n", "keep": 0.25, "epochs": 1, "seeds": 2}, cfg)
    assert torch.equal(torch.get_rng_state(), state)  # the run's model is then built from the same weights
    scores = el2n(lambda: build_model(cfg, splits), splits.train, epochs=1, seeds=[3, 4], batch_size=64,
                  optimizer=lambda m, s: build_optimization(cfg, m, s), progress=False)
    want = subset(scores, 0.25, "hard")
    assert got.info["subset"]["indices"] == want.tolist()
    x, y = splits.train.tensors
    assert torch.equal(got.train.tensors[0], x[want]) and torch.equal(got.train.tensors[1], y[want])
    assert got.val is splits.val and got.test is splits.test


def test_random_mode_trains_no_scorer_and_is_seeded():
    cfg = _cfg()
    splits = load_splits(cfg.data, cfg.seed)
    state = torch.get_rng_state()
    got = apply_subset(splits, {"keep": 0.5, "mode": "random"}, cfg)
    assert torch.equal(torch.get_rng_state(), state)
    n = len(splits.train)
    assert got.info["subset"]["indices"] == subset(torch.zeros(n), 0.5, "random", seed=3).tolist()


def test_aum_hard_keeps_the_lowest_margins():
    cfg = _cfg()
    splits = load_splits(cfg.data, cfg.seed)
    spec = SCORES.get("aum")
    assert spec.harder == "low"
    got = apply_subset(splits, {"score": "aum", "keep": 0.1, "epochs": 1, "seeds": 1}, cfg)
    scores = spec.fn(lambda: build_model(cfg, splits), splits.train, epochs=1, seeds=[3], batch_size=64,
                     optimizer=lambda m, s: build_optimization(cfg, m, s), progress=False)
    assert got.info["subset"]["indices"] == subset(scores, 0.1, "easy").tolist()  # lowest AUM


def test_danlu_train_runs_on_the_subset(tmp_path):
    """End to end through the Trainer (what ``danlu train`` runs): half the data -> half the steps."""
    result = Trainer(_cfg("data.subset={score: el2n, keep: 0.5, epochs: 1, seeds: 1}", out=tmp_path / "a")).fit()
    n_train = len(load_splits(_cfg().data, 3).train)
    assert result.metrics["steps"] == round(0.5 * n_train) // 64
    assert 0.1 < result.metrics["test_accuracy"] <= 1
    assert "subset" in (tmp_path / "a" / "config.yaml").read_text()


@pytest.mark.parametrize("options, error, match", [
    ({"score": "el2n"}, DanluError, "needs keep"),
    ({"score": "el2n", "keep": 1.5}, DanluError, "keep must be a fraction"),
    ({"score": "el2nn", "keep": 0.5}, UnknownNameError, "valid: aum, el2n, forgetting, grand"),
    ({"keep": 0.5, "mode": "hard"}, DanluError, "needs score"),
    ({"score": "el2n", "keep": 0.5, "mode": "middle"}, UnknownNameError, "unknown subset mode"),
    ({"score": "el2n", "keep": 0.5, "colour": 1}, DanluError, "unknown key\\(s\\) colour"),
    ({"score": "el2n", "keep": 0.5, "seeds": 0}, DanluError, "seeds must be a positive int"),
    ("el2n", DanluError, "must be a mapping"),
])
def test_bad_options_get_one_line_errors(options, error, match):
    cfg = _cfg()
    splits = load_splits(cfg.data, cfg.seed)
    with pytest.raises(error, match=match) as err:
        apply_subset(splits, options, cfg)
    assert "\n" not in str(err.value)


@pytest.mark.slow  # a fresh interpreter: ~8 s on the shared 2-core machine; the in-process checks above are fast
def test_cli_bad_subset_exits_2_with_one_line_and_no_run_folder(tmp_path):
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "danlu", "train", *TINY, "data.subset={score: el2n, keep: 0}",
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "keep must be a fraction in (0, 1]" in lines[0], proc.stderr
    assert not out.exists()
