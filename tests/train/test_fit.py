"""In-memory ``fit`` and the lab cards' ``_tricks_common.train`` on top of it.

Reference: the cards' own mini-loop as it was before it moved onto the engine (copied below
verbatim as ``_old_train``); ``train`` must give the same weights, losses, lrs, evals and snapshots
bit for bit: the same RNG consumption (dropout) and the same batch order.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.lab.cards import _tricks_common as T
from danlu.train import TrainingDiverged, create_task, fit
from danlu.train.config import LoopConfig
from danlu.train.tasks.classification import Classification


def _old_train(model, data, *, steps, batch_size, optimizer, seed, schedule=None, loss_fn=F.cross_entropy,
               eval_fn=None, eval_every=0, snapshot_at=(), device=None):
    """``_tricks_common.train`` before the engine (commit 5d8cde1), verbatim but for the docstring."""
    device = device or torch.device("cpu")
    x_all, y_all = (t.to(device) for t in data.tensors)
    n = len(x_all)
    g = torch.Generator().manual_seed(seed)
    perm, pos = torch.randperm(n, generator=g), 0
    run, snaps = T.Run(), set(snapshot_at)

    def evaluate(step):
        if eval_fn is not None:
            model.eval()
            with torch.no_grad():
                run.evals.append({"step": step, **eval_fn(model)})
            model.train()

    model.train()
    evaluate(0)
    for step in range(steps):
        if pos + batch_size > n:
            perm, pos = torch.randperm(n, generator=g), 0
        idx = perm[pos:pos + batch_size].to(device)
        pos += batch_size
        x, y = x_all[idx], y_all[idx]
        loss = loss_fn(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        run.lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if schedule is not None:
            schedule.step()
        run.losses.append(loss.item())
        if step in snaps:
            run.snapshots.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            evaluate(step + 1)
    evaluate(steps)
    model.eval()
    return run


def _data(n: int = 300) -> tuple[TensorDataset, TensorDataset]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n + 100, 12, generator=g)
    y = (x[:, :3].sum(1) > 0).long() + (x[:, 3] > 1).long()  # 3 classes
    return TensorDataset(x[:n], y[:n]), TensorDataset(x[n:], y[n:])


CASES = {
    "plain": {},
    "schedule+snapshots": {"schedule": True, "snapshot_at": (0, 17, 59)},
    "dropout+evals": {"dropout": 0.3, "eval": True, "eval_every": 7},
    "flooded loss": {"loss": lambda logits, y: (F.cross_entropy(logits, y) - 0.4).abs() + 0.4},
    "batch larger than the data": {"n": 40, "batch": 64},
}


@pytest.mark.parametrize("case", CASES)
def test_tricks_train_is_bit_identical_to_the_old_loop(case):
    kw = CASES[case]
    train_set, val_set = _data(kw.get("n", 300))
    runs, weights = [], []
    for trainer in (_old_train, T.train):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Linear(12, 32), nn.ReLU(), nn.Dropout(kw.get("dropout", 0.0)), nn.Linear(32, 3))
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=60) if kw.get("schedule") else None
        eval_fn = (lambda m: T.metrics(m, val_set)) if kw.get("eval") else None
        runs.append(trainer(model, train_set, steps=60, batch_size=kw.get("batch", 32), optimizer=opt, seed=3,
                            schedule=sched, loss_fn=kw.get("loss", F.cross_entropy), eval_fn=eval_fn,
                            eval_every=kw.get("eval_every", 0), snapshot_at=kw.get("snapshot_at", ())))
        weights.append((model.state_dict(), model.training, torch.get_rng_state()))
    old, new = runs
    assert new.losses == old.losses and len(new.losses) == 60
    assert new.lrs == old.lrs and new.evals == old.evals
    assert len(new.snapshots) == len(old.snapshots) == len(kw.get("snapshot_at", ()))
    for a, b in zip(old.snapshots, new.snapshots, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    for k, v in weights[0][0].items():
        assert torch.equal(weights[1][0][k], v), k
    assert weights[0][1] == weights[1][1] is False  # left in eval mode, as before
    assert torch.equal(weights[0][2], weights[1][2])  # the global RNG advanced by the same draws (dropout)
    if kw.get("dropout"):
        assert len(new.evals) == 1 + 60 // 7 + 1


def test_fit_accumulation_equals_the_larger_batch():
    train_set, _ = _data()
    models = []
    for batch, accum in ((32, 1), (16, 2)):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(12, 16), nn.Tanh(), nn.Linear(16, 3))
        fit("classification", model, train_set, steps=20, seed=0, batch_size=batch,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loop=LoopConfig(accum_steps=accum))
        models.append(model)
    for k, v in models[0].state_dict().items():
        torch.testing.assert_close(models[1].state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_fit_ema_eval_data_and_no_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    train_set, val_set = _data()
    torch.manual_seed(0)
    model = nn.Linear(12, 3)
    seen = []
    result = fit(Classification(metrics=["accuracy"]), model, train_set, steps=25, seed=0, batch_size=30,
                 optimizer=torch.optim.SGD(model.parameters(), lr=0.1), eval_data=val_set,
                 loop=LoopConfig(ema_decay=0.8),
                 callbacks=[lambda ev, eng: seen.append(model.weight.detach().clone()) if ev == "step" else None])
    ema = seen[0]
    for w in seen[1:]:
        ema = 0.8 * ema + 0.2 * w
    torch.testing.assert_close(result.ema_model.weight, ema, rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        logits = result.ema_model(val_set.tensors[0])
    acc = (logits.argmax(1) == val_set.tensors[1]).sum().item() / len(val_set)
    assert result.metrics["val_accuracy"] == pytest.approx(acc, abs=1e-9)
    assert [h["epoch"] for h in result.history] == [1, 2] and result.state.step == 25  # 10 batches an epoch
    assert os.listdir(tmp_path) == []  # in memory: nothing written


def test_fit_nan_guard_skips_then_stops():
    train_set, _ = _data()
    model = nn.Linear(12, 3)
    before = model.weight.detach().clone()

    def nan_loss(logits, y):
        return F.cross_entropy(logits, y) * float("nan")

    with pytest.raises(TrainingDiverged, match=r"stopped at step 3: 3 steps had a NaN/inf .*no checkpoints"):
        fit(Classification(loss_fn=nan_loss), model, train_set, steps=10, seed=0, batch_size=30,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loop=LoopConfig(max_bad_steps=3))
    assert torch.equal(model.weight, before)


def test_fit_bad_inputs_are_named():
    train_set, _ = _data()
    model = nn.Linear(12, 3)
    with pytest.raises(DanluError, match=r"task 'gan' trains 2 optimizers .*pass optimizer=\{phase: optimizer\}"):
        fit(create_task("gan"), model, train_set, steps=1, seed=0, optimizer=torch.optim.SGD(model.parameters(), 0.1))
    with pytest.raises(DanluError, match=r"optimizer must map the phases \('main',\)"):
        fit("classification", model, train_set, steps=1, seed=0, optimizer={"critic": None})
    with pytest.raises(DanluError, match=r"data must be a TensorDataset"):
        fit("classification", model, list(train_set), steps=1, seed=0)
    with pytest.raises(DanluError, match=r"unknown task 'clasification'; valid: .*classification, .*gan"):
        fit("clasification", model, train_set, steps=1, seed=0)


def test_fit_builds_the_task_optimizers_from_the_config_defaults():
    train_set, _ = _data()
    torch.manual_seed(0)
    model = nn.Linear(12, 3)
    lrs = []
    fit("classification", model, train_set, steps=10, seed=0, batch_size=30,
        callbacks=[lambda ev, eng: lrs.append(eng.last.lr) if ev == "step" else None])
    assert lrs[0] == pytest.approx(5e-3) and lrs[-1] < lrs[0]  # adamw at optim.lr, cosine over the 10 steps


class _InfGrad(torch.autograd.Function):
    """Identity forward; an infinite gradient backward (a finite loss with a non-finite gradient)."""

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return torch.full_like(g, float("inf"))


@pytest.mark.parametrize("clip", [0.0, 1.0])
def test_nan_guard_catches_an_infinite_gradient_under_a_finite_loss(clip):
    train_set, _ = _data()
    model = nn.Linear(12, 3)
    before = model.weight.detach().clone()
    losses = []

    def loss_fn(logits, y):
        loss = F.cross_entropy(_InfGrad.apply(logits), y)
        losses.append(loss.item())
        return loss

    with pytest.raises(TrainingDiverged, match=r"stopped at step 2: 2 steps"):
        fit(Classification(loss_fn=loss_fn), model, train_set, steps=5, seed=0, batch_size=30,
            optimizer=torch.optim.SGD(model.parameters(), lr=0.1), loop=LoopConfig(max_bad_steps=2, grad_clip=clip))
    assert all(map(torch.isfinite, torch.tensor(losses))) and torch.equal(model.weight, before)
