"""The token_classification task against a hand-written loop (reference: F.cross_entropy with ignore_index=-100)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from danlu.train import TASKS, fit
from danlu.train.config import LoopConfig
from danlu.train.in_memory import TensorBatches
from danlu.train.tasks.base import Context
from danlu.train.tasks.token_classification import TokenClassification, labelled


class _Tiny(nn.Module):
    """tokens (B, T) -> logits (B, T, V)."""

    def __init__(self, vocab: int = 7, dim: int = 8) -> None:
        super().__init__()
        self.embed, self.mix, self.head = nn.Embedding(vocab, dim), nn.Linear(dim, dim), nn.Linear(dim, vocab)

    def forward(self, x):
        h = self.embed(x)
        return self.head(torch.tanh(self.mix(h.cumsum(1))))


def _data(n: int = 40, t: int = 6, vocab: int = 7, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, vocab, (n, t), generator=g)
    y = x.roll(1, 1).clone()
    y[:, : t // 2] = -100  # only the second half is labelled
    return TensorDataset(x, y)


def test_registered():
    assert TASKS.get("token_classification") is TokenClassification


def test_fit_matches_a_hand_written_loop():
    data, steps, bs = _data(), 12, 8  # 5 batches per epoch: crosses epochs
    torch.manual_seed(0)
    ref = _Tiny()
    torch.manual_seed(0)
    model = _Tiny()
    opt = torch.optim.AdamW(ref.parameters(), lr=0.05, weight_decay=0.01)
    order = TensorBatches(data.tensors, bs, seed=3)
    ref_losses = []
    for step in range(steps):
        epoch, i = divmod(step, len(order))
        idx = order.permutation(epoch)[i * bs:(i + 1) * bs]
        x, y = data.tensors[0][idx], data.tensors[1][idx]
        loss = F.cross_entropy(ref(x).flatten(0, 1), y.flatten(), ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
        opt.step()
        ref_losses.append(loss.item())
    losses = []
    fit("token_classification", model, data, steps=steps, seed=3, batch_size=bs,
        optimizer=torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.01),
        loop=LoopConfig(grad_clip=0.5, nan_guard=False),
        callbacks=[lambda ev, e: losses.append(e.last.loss.item()) if ev == "step" else None])
    assert losses == pytest.approx(ref_losses, rel=1e-5, abs=1e-6)
    for p, q in zip(model.parameters(), ref.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert losses[-1] < losses[0]  # it learned something: the comparison is not of two idle models


def test_evaluate_counts_labelled_tokens_only():
    data = _data(n=10)
    torch.manual_seed(1)
    model = _Tiny()
    task = TokenClassification(metrics=["accuracy"])
    loader = [(data.tensors[0][:3], data.tensors[1][:3]), (data.tensors[0][3:], data.tensors[1][3:])]
    out = task.evaluate(model, loader, Context(device=torch.device("cpu")))
    with torch.no_grad():
        logits = model(data.tensors[0])
    y = data.tensors[1]
    keep = y != -100
    assert out["accuracy"] == pytest.approx((logits.argmax(-1)[keep] == y[keep]).float().mean().item())
    assert out["loss"] == pytest.approx(F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-100).item(),
                                        rel=1e-5)


def test_wrong_shapes_are_named():
    with pytest.raises(ValueError, match=r"expected logits \(B, T, C\) and targets \(B, T\), got \(2, 5\) and \(2,\)"):
        labelled(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))
