"""WGAN-GP against closed forms and a hand-written loop; exact W1 against scipy; mode metrics by hand."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.stats import wasserstein_distance

from danlu.errors import DanluError
from danlu.gan import (
    critic_w1,
    exact_w1,
    gradient_penalty,
    grid_centers,
    interpolate,
    mixture,
    mode_stats,
    ring_centers,
)
from danlu.train import create_task, fit
from danlu.train.config import ConfigError
from danlu.train.tasks import Context

NETS = {"generator": {"name": "mlp", "args": {"depth": 2, "width": 16}},
        "critic": {"name": "mlp", "args": {"depth": 2, "width": 16}}}


def test_penalty_of_a_linear_critic_is_the_closed_form_with_its_weight_gradient():
    lin = torch.nn.Linear(3, 1).double()
    real, fake = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    gp = gradient_penalty(lin, real, fake, eps=torch.rand(6, dtype=torch.float64), weight=10.0)
    w = lin.weight.detach().flatten()
    assert gp.item() == pytest.approx(10 * (w.norm().item() - 1) ** 2, rel=1e-12)
    gp.backward()  # d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    torch.testing.assert_close(lin.weight.grad.flatten(), 20 * (w.norm() - 1) * w / w.norm())


def test_penalty_of_a_quadratic_critic_at_the_interpolates():
    real, fake = torch.randn(5, 2, dtype=torch.float64), torch.randn(5, 2, dtype=torch.float64)
    eps = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0], dtype=torch.float64)
    gp = gradient_penalty(lambda x: 0.5 * (x**2).sum(1), real, fake, eps=eps, weight=3.0)
    pts = eps[:, None] * real + (1 - eps[:, None]) * fake  # gradient of |x|^2 / 2 is x
    assert gp.item() == pytest.approx(3.0 * float(((pts.norm(dim=1) - 1) ** 2).mean()), rel=1e-12)
    torch.testing.assert_close(interpolate(real, fake, eps)[0], fake[0])


def test_wgan_gp_task_matches_a_hand_written_loop():
    """n_critic critic steps of (E[f(fake)] - E[f(real)] + 10 GP) with eps from the task's stream, then a generator step."""
    data = mixture(ring_centers(), 256, 0.05, seed=0)
    steps, seed, b, n_critic = 13, 2, 32, 3
    task = create_task("gan", {**NETS, "objective": "wasserstein-gp", "n_critic": n_critic})
    torch.manual_seed(0)
    model = task.make_model(2)
    ref = copy.deepcopy(model)

    def opts(m):  # SGD: Adam would blow float noise in near-zero gradients up to lr-sized steps
        return {"critic": torch.optim.SGD(m.critic.parameters(), lr=0.05),
                "generator": torch.optim.SGD(m.generator.parameters(), lr=0.05)}

    fit(task, model, data, steps=steps, seed=seed, batch_size=b, optimizer=opts(model))
    noise = create_task("gan", NETS)
    ctx = Context(device=torch.device("cpu"), seed=seed)
    opt, x_all = opts(ref), data.tensors[0]
    g = torch.Generator().manual_seed(seed)
    perm, pos, epoch, done = torch.randperm(len(x_all), generator=g), 0, 0, 0
    for _ in range(steps):
        if pos + b > len(x_all):
            perm, pos, epoch = torch.randperm(len(x_all), generator=g), 0, epoch + 1
        idx = perm[pos:pos + b]
        pos += b
        z = noise.noise(idx, ctx, stream=0, epoch=epoch)
        if done < n_critic:
            with torch.no_grad():
                fake = ref.generator(z)
            u = noise.noise(idx, ctx, stream=4, epoch=epoch)[:, 0]
            eps = torch.tensor([0.5 * (1 + math.erf(v / math.sqrt(2))) for v in u.tolist()])
            x = x_all[idx]
            loss = ref.critic(fake).mean() - ref.critic(x).mean() + gradient_penalty(ref.critic, x, fake, eps=eps)
            which, done = "critic", done + 1
        else:
            loss, which, done = -ref.critic(ref.generator(z)).mean(), "generator", 0
        opt[which].zero_grad(set_to_none=True)
        loss.backward()
        opt[which].step()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-5, atol=1e-6, msg=k)
    assert any(not torch.equal(v, task.make_model(2).state_dict()[k]) for k, v in model.state_dict().items())


def test_wgan_gp_does_not_clip_and_checks_its_weight():
    task = create_task("gan", {**NETS, "objective": "wasserstein-gp", "clip": 1e-4, "n_critic": 2})
    torch.manual_seed(0)
    model = task.make_model(2)
    fit(task, model, mixture(ring_centers(), 128, 0.05), steps=4, seed=0, batch_size=32)
    assert max(p.abs().max().item() for p in model.critic.parameters()) > 1e-3
    with pytest.raises(ConfigError, match="gp_weight must be >= 0"):
        create_task("gan", {"objective": "wasserstein-gp", "gp_weight": -1.0})


@pytest.mark.parametrize("seed", range(3))
def test_exact_w1_against_scipy(seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(40, 1)), rng.normal(1.0, 2.0, size=(25, 1))
    assert exact_w1(torch.tensor(a), torch.tensor(b)) == pytest.approx(wasserstein_distance(a[:, 0], b[:, 0]),
                                                                      rel=1e-9)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 0.5  # equal weights: an assignment problem
    cost = np.linalg.norm(x[:, None] - y[None], axis=2)
    r, c = linear_sum_assignment(cost)
    assert exact_w1(torch.tensor(x), torch.tensor(y)) == pytest.approx(cost[r, c].mean(), rel=1e-9)


def test_critic_w1_of_a_linear_critic():
    real, fake = torch.randn(10, 2), torch.randn(12, 2)
    lin = torch.nn.Linear(2, 1)
    expect = (lin(real).mean() - lin(fake).mean()).item()
    assert critic_w1(lin, real, fake) == pytest.approx(expect, rel=1e-6)


def test_mode_stats_by_hand_and_equal_to_the_gan_task():
    centers = ring_centers()
    x = torch.cat([centers[0] + 0.01 * torch.randn(40, 2), centers[1] + 0.01 * torch.randn(1, 2),
                   torch.zeros(9, 2)])  # 40 at mode 0, 1 at mode 1 (below the 0.25 * 50 / 8 share), 9 at the origin
    st = mode_stats(x, centers, 0.05)
    assert st["modes"] == 1 and st["quality"] == pytest.approx(41 / 50) and st["counts"][:2] == [40, 1]
    st2 = mode_stats(x, centers, 0.05, share=0.1)  # 0.1 * 50 / 8 = 0.625 samples: 2 modes covered
    assert st2["modes"] == 2
    # the gan task's evaluation of a generator agrees with mode_stats on the same samples
    task = create_task("gan", NETS)
    torch.manual_seed(0)
    model = task.make_model(2)
    data = mixture(centers, 400, 0.05, seed=1)
    task.setup(data)
    ds = task.prepare(data)
    ctx = Context(device=torch.device("cpu"), seed=0, split="val")
    got = task.evaluate(model, [ds.tensors], ctx)
    with torch.no_grad():
        fake = model.generator(task.noise(ds.tensors[1], ctx, stream=1, epoch=0))
    ref = mode_stats(fake, task.centers, task.sigma)
    assert got["modes"] == ref["modes"] and got["quality"] == pytest.approx(ref["quality"])


def test_mixture_centers():
    torch.testing.assert_close(ring_centers(4, 2.0), torch.tensor([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]]),
                               atol=1e-6, rtol=0)
    grid = grid_centers()
    assert grid.shape == (25, 2) and sorted(set(grid[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    ds = mixture(grid, 500, 0.05, seed=3)
    assert torch.equal(ds.tensors[0], mixture(grid, 500, 0.05, seed=3).tensors[0])
    assert (ds.tensors[0] - grid[ds.tensors[1]]).abs().max() < 0.05 * 6


def test_bad_inputs():
    with pytest.raises(DanluError, match="share D"):
        exact_w1(torch.zeros(3, 2), torch.zeros(3, 3))
    with pytest.raises(DanluError, match="share D"):
        mode_stats(torch.zeros(3, 3), ring_centers(), 0.1)
    with pytest.raises(DanluError, match="eps \\(B,\\)"):
        interpolate(torch.zeros(3, 2), torch.zeros(3, 2), torch.zeros(2))
    with pytest.raises(DanluError, match="weight must be >= 0"):
        gradient_penalty(torch.nn.Linear(2, 1), torch.zeros(3, 2), torch.zeros(3, 2), weight=-1)
    with pytest.raises(DanluError, match="std > 0"):
        mixture(ring_centers(), 10, 0.0)
