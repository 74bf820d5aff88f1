"""Gaussian augmentation (closed form, sigma choice) and ANT (generator norm, the classifier's loss rises
under the trained generator, the classifier is untouched, the history ring)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.robust.ant import AdversarialNoise, NoiseGenerator, NoiseHistory
from danlu.robust.gaussian import gaussian_noise, select_sigma
from danlu.robust.perturb import create_perturbation


def test_gaussian_noise_is_the_closed_form():
    x = torch.rand(4, 1, 8, 8)
    ref = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(2))).clamp(0, 1)
    assert torch.equal(gaussian_noise(x, 0.3, generator=torch.Generator().manual_seed(2)), ref)
    noisy = gaussian_noise(torch.full((20000,), 0.5), 0.1, generator=torch.Generator().manual_seed(0), clip=None)
    assert noisy.std().item() == pytest.approx(0.1, rel=0.03)
    with pytest.raises(DanluError, match="sigma must be"):
        gaussian_noise(x, -1.0)


def test_select_sigma_takes_the_best_validation_score_and_the_smaller_on_ties():
    seen = []
    choice = select_sigma([0.4, 0.1, 0.2], lambda s: seen.append(s) or {0.1: 0.5, 0.2: 0.9, 0.4: 0.9}[s])
    assert choice.sigma == 0.2 and choice.scores == {0.1: 0.5, 0.2: 0.9, 0.4: 0.9} and seen == [0.1, 0.2, 0.4]
    with pytest.raises(DanluError, match="at least one"):
        select_sigma([], lambda s: 0.0)


def test_gaussian_perturbation_is_gaussian_noise():
    p = create_perturbation("gaussian", eps=0.2)
    x = torch.rand(3, 1, 5, 5)
    out = p(torch.nn.Identity(), x, torch.zeros(3, dtype=torch.long), torch.Generator().manual_seed(1))
    assert torch.equal(out, gaussian_noise(x, 0.2, generator=torch.Generator().manual_seed(1)))


def test_generator_output_has_the_l2_budget():
    g = NoiseGenerator(1, hidden=8, layers=3)
    d = g(torch.randn(5, 1, 12, 12), 1.7)
    assert torch.allclose(d.flatten(1).norm(dim=1), torch.full((5,), 1.7), atol=1e-5)


def _classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
                            torch.nn.Linear(4 * 144, 3)).eval()
    with torch.no_grad():
        m[3].weight.mul_(10)  # sensitive to its input, so noise can move its loss
    return m


def test_ant_generator_learns_to_raise_the_classifiers_loss_and_leaves_it_untouched():
    model = _classifier()
    before = [p.detach().clone() for p in model.parameters()]
    x = torch.rand(64, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (64,), generator=torch.Generator().manual_seed(1))
    ant = AdversarialNoise(eps=2.0, lr=1e-2, p_history=0.0, seed=0)

    def loss_now() -> float:
        with torch.no_grad():
            return sum(F.cross_entropy(model(ant.sample(x)), y).item() for _ in range(4)) / 4

    start = loss_now()
    for _ in range(40):
        ant.train_step(model, x, y)
    assert loss_now() > start + 0.05  # the generator found noise the classifier dislikes
    for p, q in zip(model.parameters(), before, strict=True):
        assert torch.equal(p, q) and p.grad is None


def test_ant_call_adds_to_the_history_and_stays_in_range():
    model = _classifier()
    ant = AdversarialNoise(eps=1.0, history_every=2, history_size=2, seed=0)
    x, y = torch.rand(8, 1, 12, 12), torch.zeros(8, dtype=torch.long)
    for _ in range(7):
        out = ant(model, x, y)
        assert out.min() >= 0 and out.max() <= 1 and out.shape == x.shape
    assert len(ant.history) == 2 and ant.calls == 7  # ring of 2 after 4 additions
    assert (out - x).flatten(1).norm(dim=1).max() <= 1.0 + 1e-5  # clipping only shrinks the noise


def test_history_ring_and_bad_arguments():
    h = NoiseHistory(2)
    lin = torch.nn.Linear(1, 1)
    for v in (1.0, 2.0, 3.0):
        torch.nn.init.constant_(lin.weight, v)
        h.add(lin)
    assert sorted(s["weight"].item() for s in h.states) == [2.0, 3.0]
    with pytest.raises(DanluError, match="p_history must be in"):
        AdversarialNoise(eps=1.0, p_history=2.0)
    with pytest.raises(DanluError, match="eps must be"):
        AdversarialNoise(eps=-1.0)
    with pytest.raises(DanluError, match=r"ant needs image batches \(B, 1, H, W\), got shape \(4, 64\)"):
        AdversarialNoise(eps=1.0)(torch.nn.Linear(64, 2), torch.rand(4, 64), torch.zeros(4, dtype=torch.long))
    with pytest.raises(DanluError, match="kernel_size must be odd"):
        NoiseGenerator(1, kernel_size=2)
