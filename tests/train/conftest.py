"""Shared fixtures for the trainer tests: a tiny, seconds-long config."""

from __future__ import annotations

import pathlib

import pytest
from train_testutil import TINY

from danlu.train import TrainConfig, apply_overrides


@pytest.fixture
def tiny(tmp_path: pathlib.Path):
    """``tiny(*overrides)`` -> a TrainConfig of a ~1 s digits MLP run writing under tmp_path."""

    def make(*overrides: str, out: str = "run") -> TrainConfig:
        return apply_overrides(TrainConfig(), [*TINY, f"out_dir={tmp_path / out}", *overrides])

    return make
