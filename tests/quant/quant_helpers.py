"""Shared helpers for the quant tests: a few QAT steps on random data, and LSB differences."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from danlu.quant.config import QConfig
from danlu.quant.lowering import IntegerModel, convert
from danlu.quant.prepare import prepare_qat


def trained_qat(model: nn.Module, shape: tuple[int, ...], cfg: QConfig | None = None, steps: int = 4,
                seed: int = 0) -> nn.Module:
    """prepare_qat + a few SGD steps on random inputs/labels (weights, ranges and BN stats all move)."""
    torch.manual_seed(seed)
    qat = prepare_qat(model, cfg)
    qat.train()
    opt = torch.optim.SGD(qat.parameters(), lr=0.05)
    for _ in range(steps):
        x = torch.randn(16, *shape)
        loss = nn.functional.cross_entropy(qat(x), torch.randint(0, 10, (16,)))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return qat


def lsb_diff(int_model: IntegerModel, sim_out: Tensor, codes: Tensor) -> Tensor:
    """|simulation code - integer code| per element, in output LSBs."""
    sim_codes = torch.round(sim_out / int_model.out_scale) + int_model.out_zp
    return (sim_codes - codes).abs()


def convert_and_compare(qat: nn.Module, x: Tensor) -> tuple[IntegerModel, Tensor]:
    im = convert(qat)
    with torch.no_grad():
        return im, lsb_diff(im, qat(x), im(x))
