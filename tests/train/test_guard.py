"""The NaN guard's fused finite check against the reference: ``torch.isfinite`` on the loss and every gradient."""

from __future__ import annotations

import pytest
import torch

from danlu.train.guard import FiniteCheck


def _reference(loss, params):
    return bool(torch.isfinite(loss)) and all(bool(torch.isfinite(p.grad).all()) for p in params if p.grad is not None)


@pytest.mark.parametrize("where", [None, (0, "inf"), (0, "nan"), (1, "-inf"), (2, "nan"), ("loss", "nan"),
                                   ("loss", "inf")])
@pytest.mark.parametrize("loss_dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_matches_isfinite_over_mixed_dtypes(where, loss_dtype):
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(7, 5, generator=g)), torch.nn.Parameter(torch.randn(3, generator=g)),
              torch.nn.Parameter(torch.randn(4, 2, generator=g, dtype=torch.float64)),
              torch.nn.Parameter(torch.randn(2))]
    for p in params[:3]:
        p.grad = torch.randn(p.shape, generator=g, dtype=p.dtype)  # the last one has no gradient
    loss = torch.tensor(0.7, dtype=loss_dtype)
    if where is not None:
        which, value = where
        if which == "loss":
            loss = torch.tensor(float(value), dtype=loss_dtype)
        else:
            params[which].grad.view(-1)[1] = float(value)
    before = [p.grad.clone() for p in params[:3]]
    check = FiniteCheck(params)
    assert check(loss) == _reference(loss, params) == (where is None)
    assert check(torch.tensor(0.5)) == (where is None or where[0] == "loss")  # the found flags are reset per call
    for p, b in zip(params[:3], before, strict=True):
        assert torch.equal(p.grad, b) or (torch.isnan(b).any() and torch.equal(p.grad.isnan(), b.isnan()))
