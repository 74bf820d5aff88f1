"""Checkpoints: atomic, safe to load (weights_only), clear errors for bad files, RNG states restored."""

from __future__ import annotations

import os
import pickle
import random

import numpy as np
import pytest
import torch

from danlu.train.checkpoint import (
    CheckpointError,
    CheckpointManager,
    capture_rng,
    load_checkpoint,
    restore_rng,
    save_checkpoint,
)


def _state(v: float = 1.0) -> dict:
    return {"model": {"w": torch.full((3, 4), v)}, "step": int(v), "rng": capture_rng()}


def test_roundtrip_and_no_temp_file_left(tmp_path):
    path = save_checkpoint(_state(2.0), tmp_path / "c.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]
    got = load_checkpoint(path)
    assert torch.equal(got["model"]["w"], torch.full((3, 4), 2.0)) and got["step"] == 2


def test_save_replaces_atomically(tmp_path, monkeypatch):
    """A failure before the rename leaves the previous file intact (reference: os.replace semantics)."""
    path = save_checkpoint(_state(1.0), tmp_path / "c.pt")

    def boom(src, dst):
        raise OSError("disk died before rename")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        save_checkpoint(_state(5.0), path)
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.pt"]


def test_truncated_checkpoint_clear_error_previous_still_loads(tmp_path):
    mgr = CheckpointManager(tmp_path, keep_last=3)
    mgr.save(_state(1.0), step=10)
    newest = mgr.save(_state(2.0), step=20)
    data = newest.read_bytes()
    newest.write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    with pytest.raises(CheckpointError, match=r"ckpt-00000020.pt' is truncated or corrupt"):
        load_checkpoint(newest)
    with pytest.raises(CheckpointError, match=r"previous checkpoint .*ckpt-00000010.pt' loads fine: resume from it"):
        mgr.load_latest()
    assert newest.read_bytes() == data[: len(data) // 2]  # not overwritten
    assert load_checkpoint(tmp_path / "ckpt-00000010.pt")["step"] == 1


@pytest.mark.parametrize("kind", ["plain_dict", "text", "tensor", "wrong_version"])
def test_not_a_danlu_checkpoint(tmp_path, kind):
    path = tmp_path / "x.pt"
    if kind == "plain_dict":
        torch.save({"state_dict": {"w": torch.zeros(2)}}, path)
    elif kind == "text":
        path.write_text("hello, not a checkpoint\n")
    elif kind == "tensor":
        torch.save(torch.zeros(3), path)
    else:
        torch.save({"format": "danlu-checkpoint", "version": 99}, path)
    before = path.read_bytes()
    with pytest.raises(CheckpointError, match=r"x.pt'"):
        load_checkpoint(path)
    assert path.read_bytes() == before


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_checkpoint_holding_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "danlu-checkpoint", "version": 1, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match="will not execute code"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    with pytest.raises(CheckpointError, match="no checkpoint to resume from"):
        CheckpointManager(tmp_path).load_latest()


def test_keep_last_and_best(tmp_path):
    mgr = CheckpointManager(tmp_path, keep_last=2)
    for step in (1, 2, 3, 4):
        mgr.save(_state(float(step)), step=step, best=step == 2)
    assert [p.name for p in mgr.step_checkpoints()] == ["ckpt-00000003.pt", "ckpt-00000004.pt"]
    assert load_checkpoint(tmp_path / "best.pt")["step"] == 2
    (tmp_path / ".ckpt-00000005.pt.tmp-123").write_bytes(b"partial")  # an interrupted write is ignored
    assert mgr.latest().name == "ckpt-00000004.pt"


def test_rng_states_restore_the_same_draws(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.randn()  # leave a cached gaussian in numpy's state
    path = save_checkpoint({"rng": capture_rng()}, tmp_path / "r.pt")
    expected = (random.random(), np.random.randn(3).tolist(), torch.rand(3).tolist())
    random.seed(99)
    np.random.seed(99)
    torch.manual_seed(99)
    restore_rng(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.randn(3).tolist(), torch.rand(3).tolist()) == expected


def test_weights_only_loading_is_what_torch_does(tmp_path):
    """Reference: torch.load(weights_only=True) itself refuses the same file."""
    path = tmp_path / "evil.pt"
    torch.save({"x": _Evil()}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


class _LRFunction:
    """A callable LR rule kept inside a LambdaLR's state, like danlu.optim's schedules."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.rule = _Evil()  # an object weights_only loading must refuse

    def __call__(self, step: int) -> float:
        return 1.0 - step / self.total


def test_scheduler_state_with_callables_is_saved_as_plain_data(tmp_path):
    """Reference: torch's own LambdaLR continued without interruption."""
    from danlu.train.checkpoint import merge_state, plain_state

    def make():
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, _LRFunction(10))

    opt, sched = make()
    for _ in range(3):
        opt.step()
        sched.step()
    path = save_checkpoint({"schedule": plain_state(sched.state_dict())}, tmp_path / "s.pt")
    opt2, sched2 = make()
    sched2.load_state_dict(merge_state(sched2.state_dict(), load_checkpoint(path)["schedule"]))
    for _ in range(4):
        opt.step()
        sched.step()
        opt2.step()
        sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
    assert sched2.last_epoch == 7
