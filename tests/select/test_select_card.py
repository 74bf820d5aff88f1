"""The sel-sv card end to end on a tiny budget (the quick budget runs in tests/lab/test_cards.py, marked slow).

Checks what the card computes, not its verdict: the effects are the paired differences of its own
per-seed numbers, and the 2-D precision lift uses the exact random expectation #SV / N.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch

from danlu.lab import list_cards
from danlu.lab.runner import run_card

TINY = {"seeds": 2, "n2d": 80, "score_epochs": 1, "keeps": [0.2, 0.5], "steps": 15, "batch": 64, "width": 8,
        "lr": 1e-3, "modes": ["hard", "easy", "random"], "data": "digits"}  # digits: no MNIST CSV to parse


pytestmark = pytest.mark.slow  # ~14 s on the loaded machine, mostly first imports (sklearn, torch._dynamo)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    info = next(c for c in list_cards() if c.id == "sel-sv")
    info = dataclasses.replace(info, quick=TINY)
    return run_card(info, device=torch.device("cpu"), seed=0, mode="quick", figure_dir=tmp_path_factory.mktemp("f"))


def test_card_runs_and_reports_its_effects(run):
    assert run.verdict in ("held", "not held", "inconclusive"), run.error
    assert sorted(run.figures) == ["sel-sv-keep.png", "sel-sv-two-d.png"]
    per_seed = run.extra["mnist"]
    assert len(per_seed) == 2 and set(per_seed[0]) == {"all", *(f"{m}@{k:g}" for m in TINY["modes"]
                                                                for k in (0.2, 0.5))}
    gain = run.effects["hard half - random half (points)"]
    want = [r["hard@0.5"] - r["random@0.5"] for r in per_seed]
    assert gain["samples"] == pytest.approx(want)
    warn = next(v for k, v in run.effects.items() if k.startswith("hard - easy at keep 0.2"))
    assert warn["samples"] == pytest.approx([r["hard@0.2"] - r["easy@0.2"] for r in per_seed])


def test_two_d_rows_compare_with_the_exact_random_expectation(run):
    rows = [r for r in run.table if r["part"] == "a: 2-D moons"]
    assert len(rows) == 4
    for r in rows:
        assert 0 <= r["random (%)"] <= 100 and 0 <= r["precision@k (%)"] <= 100
        assert 0 <= r["random Jaccard"] <= r["random (%)"] / 100 + 1e-9  # E[J] <= E[precision] when k = #SV
