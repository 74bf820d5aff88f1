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


def _tfrecord(tmp_path, monkeypatch=None, hide_peer=False):
    from danlu.lab.cards import data_tfrecord

    if hide_peer:
        import sys

        for mod in ("tfrecord", "tfrecord.reader", "tfrecord.writer"):
            monkeypatch.setitem(sys.modules, mod, None)  # import raises ImportError
    return data_tfrecord.data_tfrecord(_ctx({"dataset": "digits", "copies": 1, "repeats": 3}, tmp_path))


def test_tfrecord_file_size_only_where_a_file_was_compared(tmp_path):
    """Issue 22: rows without a file showed "file KiB 0"; now they have no such cell."""
    res = _tfrecord(tmp_path)
    sized = [r for r in res.table if "file KiB" in r]
    assert sized and all(r["file KiB"] > 0 for r in sized)
    assert all("file KiB" not in r for r in res.table if r["check"].startswith(("corruptions", "read+parse")))
    assert [r["result"] for r in res.table[:5]] == ["exact"] * 3 + ["identical", "5/5"]
    assert res.held is not False, res.reason  # held, or inconclusive where 3 tiny timing rounds are too noisy
    (name, est), = [(k, v[0]) for k, v in res.effects.items()]
    assert est.n == 3 and "speed-up" in name


def test_tfrecord_without_its_peer_is_not_held(tmp_path, monkeypatch):
    res = _tfrecord(tmp_path, monkeypatch, hide_peer=True)
    assert res.held is None and "not installed" in res.reason
    assert not res.effects
