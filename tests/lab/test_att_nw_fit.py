"""att-nw fits its kernel width through danlu.train.fit: the same width as a hand-written full-batch SGD loop."""

from __future__ import annotations

import pytest
import torch

from danlu.attention import NadarayaWatsonRegression
from danlu.lab.cards import attention_nw


def _hand_width(seed: int, b: dict) -> float:
    g = torch.Generator().manual_seed(seed)
    xk = torch.sort(torch.rand(b["n_train"], generator=g) * 5).values
    yk = attention_nw._f(xk) + 0.5 * torch.randn(b["n_train"], generator=g)
    n = len(xk)
    off = ~torch.eye(n, dtype=torch.bool)
    keys, vals = xk.expand(n, n)[off].view(n, n - 1), yk.expand(n, n)[off].view(n, n - 1)
    learned = NadarayaWatsonRegression(width=1.0, learn_width=True)
    opt = torch.optim.SGD(learned.parameters(), lr=b["lr"])
    for _ in range(b["steps"]):
        loss = ((learned(xk[:, None], keys, vals)[:, 0] - yk) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return learned.w.item()


@pytest.mark.parametrize("seed", [0, 3])
def test_learned_width_matches_a_hand_written_loop(seed):
    b = {"n_train": 30, "n_test": 20, "steps": 40, "lr": 0.5}
    got = attention_nw._draw(seed, b)["w"]
    assert got == pytest.approx(_hand_width(seed, b), rel=1e-5)
    assert abs(got - 1.0) > 0.1  # the width moved: the comparison is not of two untrained modules
