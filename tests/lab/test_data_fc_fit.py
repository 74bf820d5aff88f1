"""data-fc trains through danlu.train.fit: its per-epoch accuracies equal a hand-written Adam loop's on the same batches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from danlu.lab.cards import data_fc
from danlu.train.in_memory import TensorBatches


def _hand_loop(arm, data, seed, lr, b, evals):
    train, ytr = data
    torch.manual_seed(seed)
    m = data_fc._build(arm, b["hidden"])
    m.adapt(train)
    wtr = m.wide_features(train)
    wev = {k: m.wide_features(c) for k, (c, _) in evals.items()}
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    yt = torch.as_tensor(ytr)
    order = TensorBatches((yt,), b["batch"], seed=seed)
    acc = {k: [] for k in evals}
    for epoch in range(b["epochs"]):
        m.train()
        perm = order.permutation(epoch)
        for i in range(len(ytr) // b["batch"]):
            idx = perm[i * b["batch"]:(i + 1) * b["batch"]]
            logits = m(data_fc._batch(train, idx.numpy()), None if wtr is None else wtr[idx])
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            for k, (cols, y) in evals.items():
                acc[k].append(float(((m(cols, wev[k]).numpy() > 0) == (y > 0.5)).mean()))
    return acc


@pytest.mark.parametrize("arm", data_fc.ARMS)
def test_train_matches_a_hand_written_loop(arm):
    b = {"epochs": 3, "batch": 64, "hidden": 8}
    train = data_fc.make_tabular(300, 0, 0)[:2]
    evals = {"val": data_fc.make_tabular(200, 0, 1)[:2]}
    got = data_fc._train(arm, train, 0, 0.03, b, evals)
    ref = _hand_loop(arm, train, 0, 0.03, b, evals)
    assert len(got["val"]) == 3
    np.testing.assert_allclose(got["val"], ref["val"], atol=1e-9)
    assert got["val"][-1] > 0.6  # it learned: the comparison is not of two untrained models
