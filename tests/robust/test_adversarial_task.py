"""The ``adversarial`` task: ratio 0 is the classification task bit for bit, the perturbed inputs are
danlu's PGD (itself equal to torchattacks') with the step's seeded start, robust_accuracy, config errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils.data import TensorDataset

from danlu.robust import pgd
from danlu.train import fit
from danlu.train.config import ConfigError
from danlu.train.tasks import Context, create_task
from danlu.train.tasks.classification import Classification


def _data(n: int = 96, seed: int = 0) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 12, 12, generator=g)
    return TensorDataset(x, (x[:, 0, :6].mean((1, 2)) > x[:, 0, 6:].mean((1, 2))).long())


def _model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))


def _train(task, steps: int = 12):
    model = _model()
    fit(task, model, _data(), steps=steps, seed=3, batch_size=16,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    return model


def test_ratio_zero_trains_exactly_like_classification():
    a = _train(create_task("adversarial", {"ratio": 0.0, "eps": 0.2}))
    b = _train(Classification())
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_ratio_changes_training():
    a = _train(create_task("adversarial", {"ratio": 1.0, "eps": 0.2, "steps": 3}))
    b = _train(Classification())
    assert not torch.equal(a[1].weight, b[1].weight)


def test_perturbed_half_is_pgd_with_the_steps_seeded_start():
    task = create_task("adversarial", {"attack": "pgd", "eps": 0.1, "steps": 4, "alpha": 0.03, "ratio": 0.5})
    model = _model().train()
    x, y = _data().tensors
    x, y = x[:10], y[:10]
    ctx = Context(device=torch.device("cpu"), seed=7, step=5)
    mixed = task.perturb(model, x, y, ctx)
    assert model.training  # the attack's eval mode was undone
    ref = pgd(model.eval(), x[:5], y[:5], eps=0.1, steps=4, alpha=0.03,
              generator=torch.Generator().manual_seed(7 * 1_000_003 + 5))
    assert torch.equal(mixed[:5], ref)
    assert torch.equal(mixed[5:], x[5:])


def test_evaluate_reports_clean_and_robust_accuracy():
    from danlu.train.tasks.adversarial import Adversarial, AdversarialArgs

    task = Adversarial(AdversarialArgs(eps=0.3, steps=5, eval_attack="pgd"), metrics=["accuracy"])
    model = _model().eval()
    x, y = _data().tensors
    loader = [(x[:48], y[:48]), (x[48:], y[48:])]
    out = task.evaluate(model, loader, Context(device=torch.device("cpu"), seed=1))
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert out["accuracy"] == pytest.approx(clean)
    manual = 0
    for i, (xb, yb) in enumerate(loader):
        adv = pgd(model, xb, yb, eps=0.3, steps=5, generator=torch.Generator().manual_seed(1 * 1_000_003 - 1 - i))
        manual += int((model(adv).argmax(1) == yb).sum())
    assert out["robust_accuracy"] == pytest.approx(manual / len(x))
    assert out["robust_accuracy"] < clean


@pytest.mark.parametrize("args,match", [
    ({"attack": "cw"}, "unknown perturbation 'cw'; valid: ant, fgsm, gaussian, pgd, pgd_l2"),
    ({"eval_attack": "gaussian"}, "eval_attack: unknown attack 'gaussian'"),
    ({"eps": -0.1}, r"eps must be >= 0"),
    ({"ratio": 1.5}, r"ratio must be in \[0, 1\]"),
    ({"steps": 0}, "steps must be >= 1"),
    ({"epsilon": 0.1}, "epsilon"),
])
def test_bad_task_args_name_the_field(args, match):
    with pytest.raises(ConfigError, match=match):
        create_task("adversarial", args)


def test_ant_state_survives_a_checkpoint_round_trip():
    task = create_task("adversarial", {"attack": "ant", "eps": 1.0, "ratio": 0.5})
    model = _model().train()
    x, y = _data().tensors
    ctx = Context(device=torch.device("cpu"), seed=0)
    for step in range(3):
        ctx.step = step
        task.perturb(model, x[:16], y[:16], ctx)
    state = task.state_dict()
    other = create_task("adversarial", {"attack": "ant", "eps": 1.0, "ratio": 0.5})
    other.load_state_dict(copy.deepcopy(state))  # as torch.save / load would
    ctx.step = 3
    assert torch.equal(task.perturb(model, x[:16], y[:16], ctx), other.perturb(model, x[:16], y[:16], ctx))
