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


def _sys_hw(tmp_path):
    from danlu.lab.cards import systems_hw

    budget = {"sizes": [16, 64], "min_time": 0.01, "mib": 4, "rounds": 3}
    return systems_hw.sys_hw(_ctx(budget, tmp_path, "sys-hw"))


def test_sys_hw_copy_row_is_not_zeros(tmp_path):
    """Issue 22: the copy row read 0 FLOP/byte, 0 GFLOP/s, 0 roofline, with its GB/s in a column of its own.

    Every kernel row now carries GB/s, and the copy row carries no FLOP numbers at all (a copy does none).
    """
    res = _sys_hw(tmp_path)
    rows = {r["kernel"]: r for r in res.table}
    copy = rows["copy"]
    assert copy["GB/s"] > 0 and copy["GB/s median"] > 0
    assert not {"FLOP/byte", "GFLOP/s best", "GFLOP/s median", "of compute ceiling"} & set(copy)
    for name in ("matmul n=16", "matmul n=64", "add"):
        assert rows[name]["GB/s"] > 0 and rows[name]["GFLOP/s best"] > 0 and rows[name]["FLOP/byte"] > 0
    assert any(k.startswith("compute ceiling: ") for k in rows)
    assert "growth, smallest to largest matmul" in res.effects


def test_sys_hw_is_judged_against_an_independent_ceiling(tmp_path, monkeypatch):
    """The compute ceiling is the nominal/datasheet peak, not the card's own best matmul: with a
    ceiling 1000x above what any CPU does, the matmul part must fail (or be inconclusive when the
    machine is busy), never hold."""
    from danlu.systems import hardware
    from danlu.systems.peaks import Peak

    monkeypatch.setattr(hardware, "cpu_nominal_peak", lambda threads: Peak("huge CPU", {"float32": 1e17}, 0.0, "test"))
    res = _sys_hw(tmp_path)
    assert res.held is not True
    est = res.effects["largest matmul, fraction of the compute ceiling"][0]
    assert est.hi < 0.25


def test_timing_has_rounds_and_a_cpu_share():
    from danlu.systems.hardware import measure_matmul

    p = measure_matmul(32, min_time=0.01, rounds=4)
    assert len(p.samples) == 4 and p.seconds == min(p.samples) > 0
    assert p.cpu_share is not None and 0 < p.cpu_share <= 1.5  # CPU time / (wall x threads)


def test_small_kernels_are_timed_in_batches():
    """A call far shorter than the batch time is repeated until a batch lasts it (timer resolution)."""
    from danlu.systems.hardware import _calls_per_batch

    assert _calls_per_batch(lambda: None, torch.device("cpu"), 1e-3) >= 100
    assert _calls_per_batch(lambda: sum(range(200_000)), torch.device("cpu"), 1e-4) == 1


def test_contended_report_is_flagged():
    from danlu.systems.hardware import HardwareReport, KernelPoint

    def kp(name, share):
        return KernelPoint(name, 1.0, 1.0, 1.0, "float32", (1.0,), share)

    busy = HardwareReport("cpu", "x", "float32", [kp("matmul n=8", 0.3), kp("matmul n=64", 0.45)],
                          kp("copy", 0.5), kp("add", 0.6), None)
    idle = HardwareReport("cpu", "x", "float32", [kp("matmul n=64", 0.97)], kp("copy", 0.99), kp("add", 0.98), None)
    assert busy.contended and busy.cpu_share == 0.45
    assert not idle.contended and idle.cpu_share == 0.97
    gpu = HardwareReport("cuda:0", "x", "bfloat16", [kp("matmul n=64", None)], kp("copy", None), kp("add", None), None)
    assert gpu.cpu_share is None and not gpu.contended
