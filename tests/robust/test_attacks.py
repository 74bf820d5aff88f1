"""FGSM / PGD / PGD-L2 equal torchattacks' on the same model, inputs and random start; restarts,
early stop, targeted mode and bad input."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.robust import ATTACKS, fgsm, list_attacks, pgd, pgd_l2, robust_accuracy

torchattacks = pytest.importorskip("torchattacks")
TOL = 1e-6


@pytest.mark.parametrize("targeted", [False, True])
def test_fgsm_equals_torchattacks(model, batch, targeted):
    x, y = batch
    atk = torchattacks.FGSM(model, eps=0.1)
    if targeted:
        atk.set_mode_targeted_by_label(quiet=True)
    ref = atk(x, y)
    ours = fgsm(model, x, y, eps=0.1, targeted=targeted)
    assert (ours - ref).abs().max() <= TOL
    assert (ours - x).abs().max() > 0.09  # it moved


@pytest.mark.parametrize("targeted", [False, True])
@pytest.mark.parametrize("norm,cls,eps,alpha", [("linf", "PGD", 0.2, 0.03), ("l2", "PGDL2", 1.5, 0.3)])
def test_pgd_equals_torchattacks_with_the_same_random_start(model, batch, norm, cls, eps, alpha, targeted):
    x, y = batch
    atk = getattr(torchattacks, cls)(model, eps=eps, alpha=alpha, steps=7, random_start=True)
    if targeted:
        atk.set_mode_targeted_by_label(quiet=True)
    torch.manual_seed(11)
    ref = atk(x, y)
    torch.manual_seed(11)  # the global RNG in the same state
    glob = pgd(model, x, y, eps=eps, alpha=alpha, steps=7, norm=norm, targeted=targeted)
    own = pgd(model, x, y, eps=eps, alpha=alpha, steps=7, norm=norm, targeted=targeted,
              generator=torch.Generator().manual_seed(11))  # a private generator seeded alike
    assert (glob - ref).abs().max() <= TOL
    assert (own - ref).abs().max() <= TOL


def test_pgd_without_random_start_equals_torchattacks(model, batch):
    x, y = batch
    ref = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=5, random_start=False)(x, y)
    assert (pgd(model, x, y, eps=0.1, alpha=0.02, steps=5, random_start=False) - ref).abs().max() <= TOL


def test_registry_lists_the_attacks_and_pgd_l2_is_pgd_with_l2(model, batch):
    x, y = batch
    assert {"fgsm", "pgd", "pgd_l2"} <= set(list_attacks())
    a = pgd_l2(model, x, y, eps=1.0, steps=3, generator=torch.Generator().manual_seed(0))
    b = ATTACKS.get("pgd")(model, x, y, eps=1.0, steps=3, norm="l2", generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)


@pytest.mark.parametrize("norm,eps", [("linf", 0.05), ("l2", 0.8)])
def test_pgd_stays_in_the_ball_and_the_range(model, batch, norm, eps):
    x, y = batch
    adv = pgd(model, x, y, eps=eps, steps=6, norm=norm, generator=torch.Generator().manual_seed(0))
    d = (adv - x).flatten(1)
    size = d.abs().max(1).values if norm == "linf" else d.norm(dim=1)
    assert size.max() <= eps + 1e-5
    assert adv.min() >= 0 and adv.max() <= 1


def test_pgd_raises_the_loss_over_the_clean_input(model, batch):
    x, y = batch
    adv = pgd(model, x, y, eps=0.1, steps=10, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert F.cross_entropy(model(adv), y) > F.cross_entropy(model(x), y) + 0.05


def test_restarts_fool_at_least_the_examples_one_run_fools(model, batch):
    x, y = batch
    kw = dict(eps=0.03, alpha=0.01, steps=3)
    one = pgd(model, x, y, **kw, generator=torch.Generator().manual_seed(5))
    many = pgd(model, x, y, **kw, restarts=4, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        f1, fm = model(one).argmax(1) != y, model(many).argmax(1) != y
        l1 = F.cross_entropy(model(one), y, reduction="none")
        lm = F.cross_entropy(model(many), y, reduction="none")
    assert bool((fm | ~f1).all())  # every example fooled by run 1 is still fooled
    assert bool(((lm >= l1 - 1e-6) | fm).all())  # unfooled examples kept the strongest run
    assert (many - x).abs().max() <= 0.03 + 1e-6


def test_early_stop_leaves_fooled_examples_where_they_were(model, batch):
    x, y = batch
    with torch.no_grad():
        wrong = model(x).argmax(1) != y
    assert wrong.any() and (~wrong).any()
    adv = pgd(model, x, y, eps=0.2, alpha=0.05, steps=8, random_start=False, early_stop=True)
    full = pgd(model, x, y, eps=0.2, alpha=0.05, steps=8, random_start=False)
    assert torch.equal(adv[wrong], x[wrong])  # already misclassified: never moved
    with torch.no_grad():
        fooled_es, fooled_full = model(adv).argmax(1) != y, model(full).argmax(1) != y
    assert fooled_es.sum() >= fooled_full.sum() - 1  # stopping early does not give up the success
    assert (adv - x).abs().sum() < (full - x).abs().sum()  # it moves less


def test_targeted_pgd_reaches_the_target(model, batch):
    x, _ = batch
    target = torch.full((len(x),), 7)
    adv = pgd(model, x, target, eps=0.5, steps=20, targeted=True, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        before, after = (model(x).argmax(1) == 7).float().mean(), (model(adv).argmax(1) == 7).float().mean()
    assert after >= 0.9 and after > before


def test_robust_accuracy_matches_a_manual_count(model, batch):
    x, y = batch
    with torch.no_grad():
        clean = (model(x).argmax(1) == y).float().mean().item()
    assert robust_accuracy(model, x, y, "none") == pytest.approx(clean)
    adv = fgsm(model, x, y, eps=0.1)
    with torch.no_grad():
        manual = (model(adv).argmax(1) == y).float().mean().item()
    assert robust_accuracy(model, x, y, "fgsm", eps=0.1, batch_size=5) == pytest.approx(manual)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("attack", ["fgsm", "pgd", "pgd_l2"])
def test_inputs_outside_the_declared_range_are_refused(model, batch, attack):
    x, y = batch
    with pytest.raises(DanluError, match=r"inputs must lie in the declared range \[0, 1\]"):
        ATTACKS.get(attack)(model, x * 2 - 0.5, y, eps=0.1)
    ATTACKS.get(attack)(model, x * 2 - 0.5, y, eps=0.1, clip=(-0.5, 1.5))  # declared: accepted


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
@pytest.mark.parametrize("eps", [-0.1, float("nan"), "big"])
def test_bad_eps_is_refused(model, batch, attack, eps):
    x, y = batch
    with pytest.raises(DanluError, match="eps must be"):
        ATTACKS.get(attack)(model, x, y, eps=eps)


def test_bad_options_name_the_option(model, batch):
    x, y = batch
    with pytest.raises(DanluError, match="norm must be one of linf, l2"):
        pgd(model, x, y, eps=0.1, norm="l1")
    with pytest.raises(DanluError, match="steps must be an integer"):
        pgd(model, x, y, eps=0.1, steps=-1)
    with pytest.raises(DanluError, match="restarts must be an integer >= 1"):
        pgd(model, x, y, eps=0.1, restarts=0)
    with pytest.raises(DanluError, match="alpha must be > 0"):
        pgd(model, x, y, eps=0.1, alpha=0.0)
    with pytest.raises(DanluError, match=r"labels must be a \(B,\) integer tensor"):
        fgsm(model, x, y.float(), eps=0.1)
    with pytest.raises(DanluError, match="unknown attack|not registered|valid"):
        ATTACKS.get("cw")


def test_a_model_in_training_mode_is_warned_attacked_in_eval_and_restored(batch):
    x, y = batch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(144, 32), torch.nn.Dropout(0.5),
                                torch.nn.Linear(32, 10))
    model.train()
    with pytest.warns(UserWarning, match="training mode"):
        a = pgd(model, x, y, eps=0.1, steps=3, generator=torch.Generator().manual_seed(0))
    assert model.training  # restored
    model.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b = pgd(model, x, y, eps=0.1, steps=3, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)  # dropout was off during the attack


def test_eps_zero_returns_the_input(model, batch):
    x, y = batch
    assert torch.equal(pgd(model, x, y, eps=0.0), x)
    assert torch.equal(fgsm(model, x, y, eps=0.0), x)
