"""EL2N, GraNd, forgetting events and AUM against their references (issue 20).

References: GraNd = a naive per-example autograd loop in float64 (the paper's definition, eq. 1);
EL2N = ``||softmax - onehot||_2`` computed by hand (numpy) from logged probabilities of the same
seeded scorers; forgetting = Toneva et al.'s Algorithm 1 replayed on a hand-made prediction
sequence; AUM = Pleiss et al.'s eq. 1-2 recomputed from logged per-step logits.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.select import (
    SCORES,
    ForgettingTracker,
    MarginTracker,
    aum,
    el2n,
    el2n_from_probs,
    forgetting,
    grad_norms,
    grad_norms_loop,
    grand,
    margins,
    train_scorer,
)
from danlu.select._train import predict


def _data(n: int = 120, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = ((x[:, 0] + 0.5 * x[:, 1]) > 0).long() + (x[:, 2] > 1).long()  # 3 classes
    return TensorDataset(x, y)


def _mlp(norm: bool = False) -> nn.Module:
    layers = [nn.Linear(5, 11), nn.BatchNorm1d(11)] if norm else [nn.Linear(5, 11)]
    return nn.Sequential(*layers, nn.Tanh(), nn.Linear(11, 3))


CPU = torch.device("cpu")


# ------------------------------------------------------------------------------------------ GraNd
@pytest.mark.parametrize("norm", [False, True])
@pytest.mark.parametrize("chunk", [1, 7, 200])
def test_grad_norms_equal_a_naive_per_example_loop_float64(norm, chunk):
    torch.manual_seed(0)
    model = _mlp(norm).double()
    if norm:  # non-trivial running statistics
        model.train()
        model(torch.randn(64, 5, dtype=torch.float64) * 2 + 1)
    x, y = _data(37).tensors
    fast = grad_norms(model, x.double(), y, chunk=chunk)
    ref = grad_norms_loop(model, x.double(), y)
    assert fast.dtype == torch.float64 and fast.shape == (37,)
    torch.testing.assert_close(fast, ref, rtol=1e-12, atol=1e-14)


def test_grad_norms_skip_frozen_parameters():
    torch.manual_seed(0)
    model = _mlp().double()
    model[0].weight.requires_grad_(False)
    x, y = _data(9).tensors
    torch.testing.assert_close(grad_norms(model, x.double(), y, chunk=4), grad_norms_loop(model, x.double(), y))


def test_grand_is_the_seed_mean_of_grad_norms_and_deterministic():
    data = _data(60)
    got = grand(_mlp, data, epochs=1, seeds=[3, 5], batch_size=16, progress=False)
    again = grand(_mlp, data, epochs=1, seeds=[3, 5], batch_size=16, progress=False)
    assert torch.equal(got, again)
    x, y = data.tensors
    ref = torch.stack([grad_norms_loop(train_scorer(_mlp, data, seed=s, epochs=1, batch_size=16, device=CPU), x, y)
                       for s in (3, 5)]).double().mean(0).float()
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------ EL2N
def test_el2n_from_probs_matches_the_formula_by_hand():
    p = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    want = [np.sqrt(0.3**2 + 0.2**2 + 0.1**2), np.sqrt(0.1**2 + 0.9**2 + 0.8**2)]
    np.testing.assert_allclose(el2n_from_probs(p, y).numpy(), want, rtol=1e-12)


def test_el2n_equals_its_formula_from_logged_probabilities():
    data = _data(80)
    x, y = data.tensors
    got = el2n(_mlp, data, epochs=2, seeds=2, batch_size=16, progress=False)
    per_seed = []
    for s in (0, 1):  # seeds=2 means seeds 0 and 1
        model = train_scorer(_mlp, data, seed=s, epochs=2, batch_size=16, device=CPU)
        probs = predict(model, x, 16, CPU).double().softmax(1).numpy()  # logged probabilities
        onehot = np.eye(3)[y.numpy()]
        per_seed.append(np.sqrt(((probs - onehot) ** 2).sum(1)))
    np.testing.assert_allclose(got.numpy(), np.mean(per_seed, 0), rtol=1e-6)
    assert got.min() >= 0 and got.max() <= np.sqrt(2) + 1e-6  # ||p - e_y|| <= sqrt(2)


def test_el2n_separates_mislabeled_examples():
    """A trained scorer gives flipped labels a far higher EL2N than clean ones (the score's point)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(200, 2, generator=g)
    y = (x[:, 0] > 0).long()
    flipped = torch.arange(0, 200, 10)
    y[flipped] = 1 - y[flipped]

    def net() -> nn.Module:
        return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))

    s = el2n(net, TensorDataset(x, y), epochs=8, seeds=2, batch_size=20, progress=False,
             optimizer=lambda m, steps: torch.optim.Adam(m.parameters(), lr=1e-2))
    clean = torch.ones(200, dtype=torch.bool)
    clean[flipped] = False
    assert s[flipped].mean() > 1.0 > 0.3 > s[clean].mean()


# ------------------------------------------------------------------------------------ forgetting
def test_forgetting_counts_a_hand_made_prediction_sequence():
    t = ForgettingTracker(5)
    # presentations (index -> correct); example 0: 1 0 1 0 -> 2 events; 1: 0 1 1 -> 0; 2: 1 1 0 -> 1;
    # 3: 0 0 0 never learned -> its 3 presentations; 4: never presented -> NaN
    seq = [([0, 1, 2, 3], [1, 0, 1, 0]), ([0, 2], [0, 1]), ([1, 3, 0], [1, 0, 1]), ([0, 1, 2, 3], [0, 1, 0, 0])]
    for idx, ok in seq:
        t.update(torch.tensor(idx), torch.tensor(ok, dtype=torch.bool))
    got = t.counts()
    assert got[:4].tolist() == [2.0, 0.0, 1.0, 3.0]
    assert torch.isnan(got[4])


def test_forgetting_callback_counts_what_the_training_steps_predicted():
    """The tracker inside training equals Algorithm 1 replayed on the logged (index, prediction) sequence."""
    data = _data(64)
    log: list[tuple[torch.Tensor, torch.Tensor]] = []

    def record(event, engine):
        if event == "step":
            logits, idx = engine.last.outputs
            log.append((idx.clone(), logits.argmax(1) == engine.last.batch[1]))

    tracker = ForgettingTracker(64)
    train_scorer(_mlp, data, seed=4, epochs=6, batch_size=16, device=CPU, callbacks=[record, tracker],
                 optimizer=lambda m, steps: torch.optim.SGD(m.parameters(), lr=0.5))
    prev, learned, events, seen = [False] * 64, [False] * 64, [0] * 64, [0] * 64
    for idx, ok in log:
        for i, c in zip(idx.tolist(), ok.tolist()):
            events[i] += int(prev[i] and not c)
            prev[i], learned[i], seen[i] = c, learned[i] or c, seen[i] + 1
    want = [float(e if lr else s) for e, lr, s in zip(events, learned, seen)]
    assert tracker.counts().tolist() == want
    assert sum(events) > 0  # the lr makes training noisy enough to forget something


@pytest.mark.parametrize("n, batch", [(50, 16), (7, 16), (48, 16)])
def test_every_example_is_presented_every_epoch(n, batch):
    """The scorer pads its index to whole batches, so one epoch already presents every example."""
    t = MarginTracker(n)
    train_scorer(_mlp, _data(n), seed=0, epochs=1, batch_size=batch, device=CPU, callbacks=[t])
    padded = n if n <= batch else n + (-n) % batch  # the pad is seen twice
    assert bool((t.seen >= 1).all()) and int(t.seen.sum()) == padded


def test_forgetting_score_averages_seeds():
    data = _data(64)
    got = forgetting(_mlp, data, epochs=3, seeds=[1, 2], batch_size=16, progress=False)
    per = []
    for s in (1, 2):
        t = ForgettingTracker(64)
        train_scorer(_mlp, data, seed=s, epochs=3, batch_size=16, device=CPU, callbacks=[t])
        per.append(t.counts())
    torch.testing.assert_close(got, torch.stack(per).mean(0).float())


# ------------------------------------------------------------------------------------------ AUM
def test_margins_by_hand():
    z = torch.tensor([[2.0, 1.0, -1.0], [0.5, 3.0, 1.0]])
    assert margins(z, torch.tensor([0, 2])).tolist() == [1.0, -2.0]


def test_aum_is_the_mean_logged_margin():
    data = _data(48)
    log: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def record(event, engine):
        if event == "step":
            logits, idx = engine.last.outputs
            log.append((idx.clone(), logits.detach().double(), engine.last.batch[1].clone()))

    tracker = MarginTracker(48)
    train_scorer(_mlp, data, seed=0, epochs=4, batch_size=12, device=CPU, callbacks=[record, tracker])
    total, count = np.zeros(48), np.zeros(48)
    for idx, z, y in log:
        for j, i in enumerate(idx.tolist()):
            zz = z[j].numpy().copy()
            own = zz[y[j]]
            zz[y[j]] = -np.inf
            total[i] += own - zz.max()
            count[i] += 1
    np.testing.assert_allclose(tracker.aum().numpy(), total / count, rtol=1e-6)
    torch.testing.assert_close(aum(_mlp, data, epochs=4, seeds=[0], batch_size=12, progress=False),
                               tracker.aum().float())


def test_registry_names_and_hard_ends():
    assert set(SCORES.names()) >= {"el2n", "grand", "forgetting", "aum"}
    assert SCORES.get("aum").harder == "low" and SCORES.get("el2n").harder == "high"
    assert SCORES.get("aum").hardness(torch.tensor([1.0, -2.0])).tolist() == [-1.0, 2.0]


# ------------------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("name", ["el2n", "grand", "forgetting", "aum"])
def test_a_dataset_without_labels_is_refused(name):
    with pytest.raises(DanluError, match="no labels"):
        SCORES.get(name).fn(_mlp, TensorDataset(torch.randn(10, 5)), epochs=1, seeds=1, progress=False)


@pytest.mark.parametrize("bad, match", [
    ({"dataset": TensorDataset(torch.randn(10, 5), torch.rand(10))}, "integer class indices"),
    ({"dataset": [(torch.randn(5), 0)]}, "TensorDataset"),
    ({"seeds": 0}, "seeds"),
    ({"seeds": [1, -1]}, "seeds"),
    ({"epochs": -1}, "epochs"),
    ({"batch_size": 0}, "batch_size"),
])
def test_bad_arguments_get_one_line_errors(bad, match):
    kw = {"dataset": _data(20), "epochs": 1, "seeds": 1, "batch_size": 8, **bad}
    with pytest.raises(DanluError, match=match) as err:
        el2n(_mlp, kw.pop("dataset"), progress=False, **kw)
    assert "\n" not in str(err.value)


def test_forgetting_needs_training():
    with pytest.raises(DanluError, match="epochs >= 1"):
        forgetting(_mlp, _data(20), epochs=0, seeds=1, progress=False)


def test_progress_bar_does_not_change_the_scores(capsys):
    data = _data(32)
    shown = el2n(_mlp, data, epochs=1, seeds=2, batch_size=16, progress=True)
    capsys.readouterr()
    assert torch.equal(shown, el2n(_mlp, data, epochs=1, seeds=2, batch_size=16, progress=False))
