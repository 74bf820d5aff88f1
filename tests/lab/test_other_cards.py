"""Card-specific checks for data-fc, data-tfrecord, met-map, met-seg, sys-hw, sys-ddp and the RL cards:
what the audit (issues 12 and 22) found, each pinned by a test that fails if it comes back."""

from __future__ import annotations

import pathlib

import torch

from danlu.lab.core import CardContext


def _ctx(budget: dict, tmp_path: pathlib.Path, card_id: str = "test", seed: int = 0) -> CardContext:
    return CardContext(device=torch.device("cpu"), seed=seed, mode="quick", budget=budget, figure_dir=tmp_path,
                       card_id=card_id)


def test_met_map_is_not_held_without_its_reference(monkeypatch, tmp_path):
    """Without pycocotools the parity half is inconclusive: the card must not say held."""
    from danlu.lab.cards import metrics_map

    monkeypatch.setattr(metrics_map, "_pycocotools_stats", lambda gt, dets: None)
    res = metrics_map.met_map(_ctx({"images": 12, "categories": 3, "dets": 8, "seeds": 2}, tmp_path))
    assert res.held is None
    assert "not installed" in res.reason
