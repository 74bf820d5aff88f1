"""Shared fixtures of the robustness tests: a small conv classifier and a batch in [0, 1]."""

from __future__ import annotations

import pytest
import torch
from torch import nn


def small_cnn(seed: int = 0) -> nn.Module:
    """Conv(1->4) -> ReLU -> Linear(->10) on (B, 1, 12, 12), in eval mode."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 10, 10)).eval()


@pytest.fixture
def model() -> nn.Module:
    return small_cnn()


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.rand(16, 1, 12, 12, generator=g), torch.randint(0, 10, (16,), generator=g)
