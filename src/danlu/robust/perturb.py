"""Training-time input perturbations, in the registry ``PERTURBATIONS``: what the ``adversarial`` task
feeds the model in place of (a fraction of) each batch.

=========  ==================================================================================
fgsm       FGSM at eps (Goodfellow et al. 2015, arXiv:1412.6572): "FGSM training"
pgd        PGD-L-inf at eps, ``steps`` steps of ``alpha`` (Madry et al. 2018, arXiv:1706.06083)
pgd_l2     PGD-L2 at eps
gaussian   x + N(0, eps^2) noise (Gaussian data augmentation; Rusak et al. 2020, arXiv:2001.06057)
ant        adversarial noise from a learned generator with a history (Rusak et al. 2020)
=========  ==================================================================================

A perturbation is an object with ``__call__(model, x, y, generator) -> x'`` (x' detached, inside
``clip``); one with state to checkpoint (ANT's generator) also has ``state_dict`` /
``load_state_dict`` and ``to(device)``. Attacks run the model in eval mode (batch norm statistics are
not updated by the attack) and the task restores training mode for the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from danlu.registry import Registry

#: name -> factory ``fn(eps, steps, alpha, clip) -> perturbation``.
PERTURBATIONS: Registry = Registry("perturbation")


@dataclass
class AttackPerturbation:
    """An attack of :data:`danlu.robust.attacks.ATTACKS` at fixed settings, as a training perturbation."""

    name: str
    eps: float
    steps: int = 10
    alpha: float | None = None
    clip: tuple[float, float] = (0.0, 1.0)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        from danlu.robust._checks import eval_mode
        from danlu.robust.attacks import ATTACKS

        fn = ATTACKS.get(self.name)
        kw: dict[str, Any] = {} if self.name == "fgsm" else {"steps": self.steps, "alpha": self.alpha,
                                                              "generator": generator}
        with eval_mode(model, self.name, warn=False), torch.autocast(x.device.type, enabled=False):
            return fn(model, x.float(), y, eps=self.eps, clip=self.clip, **kw).to(x.dtype)


@dataclass
class GaussianPerturbation:
    """``clip(x + eps * N(0, 1))``: Gaussian noise augmentation (the model is not consulted)."""

    eps: float
    clip: tuple[float, float] = (0.0, 1.0)

    def __call__(self, model: nn.Module, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        from danlu.robust.gaussian import gaussian_noise

        return gaussian_noise(x, self.eps, generator=generator, clip=self.clip)


for _name in ("fgsm", "pgd", "pgd_l2"):
    PERTURBATIONS.add(_name, lambda eps, steps, alpha, clip, _n=_name: AttackPerturbation(_n, eps, steps, alpha, clip))
PERTURBATIONS.add("gaussian", lambda eps, steps, alpha, clip: GaussianPerturbation(eps, clip))


def _ant(eps: float, steps: int, alpha: float | None, clip: tuple[float, float]) -> Any:
    from danlu.robust.ant import AdversarialNoise

    return AdversarialNoise(eps=eps, lr=alpha or 1e-3, clip=clip)


PERTURBATIONS.add("ant", _ant)


def create_perturbation(name: str, *, eps: float, steps: int = 10, alpha: float | None = None,
                        clip: tuple[float, float] = (0.0, 1.0)) -> Any:
    """Perturbation ``name`` (an unknown name lists the valid ones) at budget ``eps``."""
    return PERTURBATIONS.get(name)(eps, steps, alpha, clip)


__all__ = ["PERTURBATIONS", "AttackPerturbation", "GaussianPerturbation", "create_perturbation"]
