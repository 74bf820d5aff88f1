"""Optimizer factory: torch's own optimizers, no-decay groups, and the L2-vs-decoupled difference.

References: torch.optim classes; the AdamW paper's update rules (Loshchilov & Hutter, arXiv:1711.05101):
Adam+L2 adds ``wd * w`` to the gradient, AdamW subtracts ``lr * wd * w`` from the weights.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from danlu.errors import DanluError, UnknownNameError
from danlu.optim import OPTIMIZERS, create_optimizer, param_groups

EXPECTED = {"sgd": torch.optim.SGD, "nesterov": torch.optim.SGD, "adam": torch.optim.Adam,
            "adam_l2": torch.optim.Adam, "adamw": torch.optim.AdamW, "radam": torch.optim.RAdam}


def _model() -> nn.Module:
    return nn.Sequential(nn.Embedding(10, 4), nn.Flatten(), nn.Linear(8, 6), nn.BatchNorm1d(6), nn.ReLU(),
                         nn.Linear(6, 3), nn.LayerNorm(3))


def test_registry_has_the_issue_names() -> None:
    assert set(EXPECTED) <= set(OPTIMIZERS.names())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_factory_builds_torch_optimizer_with_exempt_groups(name: str) -> None:
    m = _model()
    opt = create_optimizer(name, m, lr=0.01, weight_decay=0.1)
    assert type(opt) is EXPECTED[name]
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(m[2].weight), id(m[5].weight)}
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(m.parameters()))
    if name == "nesterov":
        assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9


def test_exemption_can_be_turned_off_and_params_pass_through() -> None:
    m = _model()
    opt = create_optimizer("sgd", m, lr=0.1, weight_decay=0.1, exempt_norm_bias=False)
    assert len(opt.param_groups) == 1 and opt.param_groups[0]["weight_decay"] == 0.1
    opt = create_optimizer("adam", [{"params": m[2].parameters(), "lr": 0.5}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.5


def test_shared_parameter_listed_once() -> None:
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    groups = param_groups(m, 0.1)
    assert sum(len(g["params"]) for g in groups) == 2


def _one_step(name: str, wd: float, grad: torch.Tensor, w0: torch.Tensor, lr: float = 0.1) -> torch.Tensor:
    p = nn.Parameter(w0.clone())
    opt = create_optimizer(name, [p], lr=lr, weight_decay=wd)
    p.grad = grad.clone()
    opt.step()
    return p.detach()


def test_adam_l2_is_coupled_and_adamw_is_decoupled() -> None:
    torch.manual_seed(0)
    w0 = torch.randn(5, dtype=torch.float64)
    g = torch.randn(5, dtype=torch.float64)
    lr, wd = 0.1, 0.5
    # Adam+L2 == plain Adam on the gradient of loss + wd/2 ||w||^2
    assert torch.allclose(_one_step("adam_l2", wd, g, w0, lr), _one_step("adam", 0.0, g + wd * w0, w0, lr))
    # AdamW == plain Adam step applied to (1 - lr*wd) w
    plain = _one_step("adam", 0.0, g, w0, lr)
    assert torch.allclose(_one_step("adamw", wd, g, w0, lr), plain - lr * wd * w0)
    # and they differ: on the first step Adam normalises the decay away in the sign-like update
    assert not torch.allclose(_one_step("adam_l2", wd, g, w0, lr), _one_step("adamw", wd, g, w0, lr))


def test_nesterov_differs_from_heavy_ball_after_two_steps() -> None:
    def run(name: str) -> torch.Tensor:
        p = nn.Parameter(torch.ones(1, dtype=torch.float64))
        opt = create_optimizer(name, [p], lr=0.1)
        for _ in range(2):
            opt.zero_grad()
            (p**2).sum().backward()
            opt.step()
        return p.detach()

    # closed form for f = w^2, g = 2w, mu = 0.9, lr = 0.1, w0 = 1
    b1 = 2.0
    w1 = 1 - 0.1 * b1  # heavy ball
    b2 = 0.9 * b1 + 2 * w1
    assert run("sgd").item() == pytest.approx(w1 - 0.1 * b2)
    w1n = 1 - 0.1 * (2.0 + 0.9 * b1)  # nesterov: g + mu * b
    b2n = 0.9 * b1 + 2 * w1n
    assert run("nesterov").item() == pytest.approx(w1n - 0.1 * (2 * w1n + 0.9 * b2n))


@pytest.mark.parametrize("kw, match", [
    ({"lr": -0.1}, "learning rate must be a positive"),
    ({"lr": 0.0}, "learning rate must be a positive"),
    ({"lr": 0.1, "weight_decay": -1.0}, "weight_decay must be non-negative"),
    ({"lr": 0.1, "bogus": 3}, "bad arguments"),
])
def test_bad_input(kw: dict, match: str) -> None:
    with pytest.raises(DanluError, match=match):
        create_optimizer("adam", nn.Linear(2, 2), **kw)


def test_unknown_optimizer_lists_names() -> None:
    with pytest.raises(UnknownNameError, match="valid: ") as e:
        create_optimizer("adamax_typo", nn.Linear(2, 2), lr=0.1)
    assert all(name in str(e.value) for name in EXPECTED)
