"""Every registered lab card runs in quick mode and returns a well-formed, self-judged result.

Parametrized over the registry, so a new card is tested by default. Cards flagged ``slow``
are marked slow. Each card's own claim-specific numbers are checked by its area's tests.
"""

from __future__ import annotations

import pathlib

import pytest
import torch

from danlu.lab import VERDICTS, list_cards
from danlu.lab.runner import run_card

CARDS = list_cards()


def _params() -> list:
    return [pytest.param(c, id=c.id, marks=[pytest.mark.slow] if c.slow else []) for c in CARDS]


def test_registry_is_not_empty():
    assert {"sys-hw", "tr-relu"} <= {c.id for c in CARDS}


def test_card_ids_are_unique_and_metadata_complete():
    ids = [c.id for c in CARDS]
    assert len(ids) == len(set(ids))
    for c in CARDS:
        assert c.title and c.claim and c.source and c.area, c.id
        assert c.claim.endswith("."), f"{c.id}: claim should be one sentence ending with a period"


@pytest.mark.parametrize("info", _params())
def test_card_runs_quick(info, tmp_path: pathlib.Path):
    run = run_card(info, device=torch.device("cpu"), seed=0, mode="quick", figure_dir=tmp_path)
    assert run.verdict != "error", run.error
    assert run.verdict in VERDICTS
    assert run.table and all(isinstance(r, dict) and r for r in run.table)
    assert run.reason
    assert run.figures, f"{info.id} produced no figure"
    for name in run.figures:
        data = (tmp_path / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
