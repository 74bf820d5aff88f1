"""Gradient attacks on image classifiers: FGSM and PGD (L-inf and L2), in the registry ``ATTACKS``.

FGSM: Goodfellow et al., "Explaining and Harnessing Adversarial Examples", arXiv:1412.6572.
PGD: Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", arXiv:1706.06083.

    >>> import torch
    >>> from danlu.robust import pgd
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).eval()
    >>> x, y = torch.rand(5, 1, 2, 2), torch.tensor([0, 1, 2, 0, 1])
    >>> adv = pgd(model, x, y, eps=0.1, steps=5, generator=torch.Generator().manual_seed(0))
    >>> bool((adv - x).abs().max() <= 0.1 + 1e-7) and bool(adv.min() >= 0) and bool(adv.max() <= 1)
    True

Inputs x are (B, ...) in a declared range ``clip`` (default [0, 1]; values outside it are an
error, as in torchattacks) and labels y are (B,) class indices; the model maps x to (B, C)
logits. The attacks run the model in eval mode (a model left in training mode is warned about,
switched for the attack and switched back). The loss is the batch-mean cross entropy, and every
update is the same sequence of tensor operations as torchattacks' FGSM / PGD / PGDL2, so with the
same random start (the global RNG or ``generator`` in the same state) the results agree to float
rounding. danlu adds restarts (keep, per example, the first successful run, else the one of highest
loss), a targeted mode (y are then the target classes) and an early stop (an example stops moving
once it is misclassified, or classified as its target).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.robust._checks import (
    Range,
    check_count,
    check_eps,
    check_labels,
    check_positive,
    check_range,
    eval_mode,
)

LossFn = Callable[[Tensor, Tensor], Tensor]
Norm = Literal["linf", "l2"]
NORMS = ("linf", "l2")
_DIV_EPS = 1e-10  # torchattacks' eps_for_division in the L2 step

#: name -> attack function ``fn(model, x, y, *, eps, ...) -> x_adv``.
ATTACKS: Registry = Registry("attack")


def _view(t: Tensor, like: Tensor) -> Tensor:
    """(B,) -> (B, 1, ..., 1) broadcastable against ``like`` (B, ...)."""
    return t.view(-1, *([1] * (like.dim() - 1)))


def _objective(model: nn.Module, xa: Tensor, y: Tensor, targeted: bool, loss_fn: LossFn) -> tuple[Tensor, Tensor]:
    """(the loss to ascend (), logits (B, C)) for the current adversarial batch."""
    logits = model(xa)  # (B, C)
    loss = loss_fn(logits, y)
    return (-loss if targeted else loss), logits


def _success(logits: Tensor, y: Tensor, targeted: bool) -> Tensor:
    """(B,) bool: the attack has reached its goal for each example."""
    pred = logits.argmax(1)
    return pred == y if targeted else pred != y


def _checked(model: nn.Module, x: Tensor, y: Tensor, eps: float, clip: Range) -> tuple[float, Range]:
    if not isinstance(model, nn.Module):
        raise DanluError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    eps = check_eps(eps)
    check_labels(x, y)
    return eps, check_range(x, clip)


@ATTACKS.register("fgsm")
def fgsm(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, targeted: bool = False,
         clip: Range = (0.0, 1.0), loss_fn: LossFn = F.cross_entropy) -> Tensor:
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x loss))`` (Goodfellow et al. 2015).

    Args:
        model: maps x (B, ...) to logits (B, C).
        x: (B, ...) inputs in ``clip``.
        y: (B,) true labels, or target labels when ``targeted``.
        eps: L-inf budget (>= 0), in input units.
        targeted: descend the loss of ``y`` instead of ascending it.
        clip: the declared input range (lo, hi).
        loss_fn: ``fn(logits, y) -> ()`` (default: mean cross entropy).

    Returns:
        (B, ...) adversarial inputs, detached.
    """
    eps, (lo, hi) = _checked(model, x, y, eps, clip)
    with eval_mode(model, "fgsm"):
        xa = x.clone().detach().requires_grad_(True)
        cost, _ = _objective(model, xa, y, targeted, loss_fn)
        grad = torch.autograd.grad(cost, xa)[0]
        return torch.clamp(xa + eps * grad.sign(), min=lo, max=hi).detach()


def _random_start(x: Tensor, eps: float, norm: str, lo: float, hi: float, generator: torch.Generator | None) -> Tensor:
    """Uniform in the L-inf ball, or (L2) a Gaussian direction scaled to a uniform radius fraction."""
    if norm == "linf":
        noise = torch.empty_like(x).uniform_(-eps, eps, generator=generator)
        return torch.clamp(x + noise, min=lo, max=hi).detach()
    delta = torch.empty_like(x).normal_(generator=generator)
    n = _view(delta.view(len(x), -1).norm(p=2, dim=1), x)  # (B, 1, ..., 1)
    r = torch.zeros_like(n).uniform_(0, 1, generator=generator)
    delta *= r / n * eps
    return torch.clamp(x + delta, min=lo, max=hi).detach()


def _step(xa: Tensor, x: Tensor, grad: Tensor, eps: float, alpha: float, norm: str, lo: float, hi: float) -> Tensor:
    """One ascent step then the projection onto the eps-ball around x and the input range."""
    if norm == "linf":
        xa = xa.detach() + alpha * grad.sign()
        delta = torch.clamp(xa - x, min=-eps, max=eps)
        return torch.clamp(x + delta, min=lo, max=hi).detach()
    b = len(x)
    grad = grad / _view(torch.norm(grad.view(b, -1), p=2, dim=1) + _DIV_EPS, x)
    xa = xa.detach() + alpha * grad
    delta = xa - x
    norms = torch.norm(delta.view(b, -1), p=2, dim=1)  # (B,)
    factor = torch.min(eps / norms, torch.ones_like(norms))
    return torch.clamp(x + delta * _view(factor, x), min=lo, max=hi).detach()


def _one_run(model: nn.Module, x: Tensor, y: Tensor, eps: float, alpha: float, steps: int, norm: str,
             random_start: bool, targeted: bool, early_stop: bool, lo: float, hi: float, loss_fn: LossFn,
             generator: torch.Generator | None) -> Tensor:
    xa = _random_start(x, eps, norm, lo, hi, generator) if random_start else x.clone().detach()
    active = torch.arange(len(x), device=x.device)  # examples still moving (all, without early stop)
    for _ in range(steps):
        xs, ys, x0 = (xa[active], y[active], x[active]) if early_stop else (xa, y, x)
        xs = xs.requires_grad_(True)
        cost, logits = _objective(model, xs, ys, targeted, loss_fn)
        grad = torch.autograd.grad(cost, xs)[0]
        if not early_stop:
            xa = _step(xs, x0, grad, eps, alpha, norm, lo, hi)
            continue
        moving = ~_success(logits.detach(), ys, targeted)  # (A,) not yet fooled: keep going
        if not bool(moving.any()):
            break
        stepped = _step(xs, x0, grad, eps, alpha, norm, lo, hi)
        xa = xa.clone()
        xa[active[moving]] = stepped[moving]
        active = active[moving]
    return xa.detach()


@ATTACKS.register("pgd")
def pgd(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, alpha: float | None = None, steps: int = 10,
        norm: Norm = "linf", random_start: bool = True, restarts: int = 1, targeted: bool = False,
        early_stop: bool = False, clip: Range = (0.0, 1.0), loss_fn: LossFn = F.cross_entropy,
        generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient descent (Madry et al. 2018) in the L-inf or L2 ball of radius ``eps``.

    Each step ascends the loss (L-inf: ``alpha * sign(g)``; L2: ``alpha * g / ||g||_2`` per example),
    projects back onto the eps-ball around x and clamps to ``clip``.

    Args:
        model: maps x (B, ...) to logits (B, C).
        x: (B, ...) inputs in ``clip``.
        y: (B,) true labels, or target labels when ``targeted``.
        eps: radius of the ball (>= 0) in input units.
        alpha: step size (> 0); default ``2.5 * eps / steps`` (Madry et al.'s rule).
        steps: gradient steps per run (>= 0).
        norm: ``"linf"`` or ``"l2"``.
        random_start: start at a random point of the ball (L-inf: uniform; L2: torchattacks' draw).
        restarts: independent random starts (>= 1); per example the first run that succeeds is kept,
            else the run with the highest loss.
        targeted: move towards class ``y`` (descend its loss) instead of away from it.
        early_stop: an example stops moving once the attack succeeds on it (fewer steps, weaker
            perturbations; the success is judged on the logits of the step about to be taken).
        clip: the declared input range (lo, hi).
        loss_fn: ``fn(logits, y) -> ()`` batch-mean loss (default: cross entropy).
        generator: the RNG of the random start (default: torch's global RNG, as torchattacks).

    Returns:
        (B, ...) adversarial inputs, detached, within ``eps`` of x in ``norm`` and inside ``clip``.
    """
    eps, (lo, hi) = _checked(model, x, y, eps, clip)
    if norm not in NORMS:
        raise DanluError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
    steps = check_count(steps, "steps")
    restarts = check_count(restarts, "restarts", minimum=1)
    alpha = check_positive(alpha if alpha is not None else 2.5 * max(eps, 1e-12) / max(steps, 1), "alpha")
    if eps == 0:
        return x.clone().detach()
    with eval_mode(model, "pgd"):
        best = None
        for r in range(restarts):
            xa = _one_run(model, x, y, eps, alpha, steps, norm, random_start, targeted, early_stop, lo, hi,
                          loss_fn, generator)
            if restarts == 1:
                return xa
            best = xa if best is None else _keep_stronger(model, x, y, best, xa, targeted)
            if r + 1 < restarts and bool(_fooled(model, best, y, targeted).all()):
                break
        return best


@torch.no_grad()
def _fooled(model: nn.Module, xa: Tensor, y: Tensor, targeted: bool) -> Tensor:
    return _success(model(xa), y, targeted)


@torch.no_grad()
def _keep_stronger(model: nn.Module, x: Tensor, y: Tensor, best: Tensor, new: Tensor, targeted: bool) -> Tensor:
    """Per example: keep ``best`` if it already succeeds, else whichever of the two succeeds or has the
    higher (untargeted) / lower (targeted) per-example cross entropy."""
    lb, ln = model(best), model(new)  # (B, C) each
    sb, sn = _success(lb, y, targeted), _success(ln, y, targeted)
    cb, cn = F.cross_entropy(lb, y, reduction="none"), F.cross_entropy(ln, y, reduction="none")
    stronger = cn < cb if targeted else cn > cb
    take_new = ~sb & (sn | stronger)  # (B,)
    return torch.where(_view(take_new, x), new, best)


@ATTACKS.register("pgd_l2")
def pgd_l2(model: nn.Module, x: Tensor, y: Tensor, *, eps: float, **kw) -> Tensor:
    """:func:`pgd` with ``norm="l2"`` (torchattacks' PGDL2)."""
    return pgd(model, x, y, eps=eps, norm="l2", **kw)


def list_attacks() -> list[str]:
    """Registered attack names, sorted."""
    return sorted(ATTACKS.names())


def robust_accuracy(model: nn.Module, x: Tensor, y: Tensor, attack: str = "pgd", *, batch_size: int = 512,
                    **kw) -> float:
    """Accuracy (in [0, 1]) of ``model`` on ``ATTACKS[attack](model, x, y, **kw)``, computed in batches.

    ``attack="none"`` gives the clean accuracy. x (N, ...), y (N,).
    """
    fn = None if attack == "none" else ATTACKS.get(attack)
    correct = 0
    with eval_mode(model, "robust_accuracy"):
        for i in range(0, len(x), batch_size):
            xb, yb = x[i:i + batch_size], y[i:i + batch_size]
            xa = xb if fn is None else fn(model, xb, yb, **kw)
            with torch.no_grad():
                correct += int((model(xa).argmax(1) == yb).sum())
    return correct / max(len(x), 1)


__all__ = ["ATTACKS", "NORMS", "fgsm", "list_attacks", "pgd", "pgd_l2", "robust_accuracy"]
