"""Adversarial training: classification on batches where a fraction is replaced by perturbed inputs.

Madry et al., "Towards Deep Learning Models Resistant to Adversarial Attacks", arXiv:1706.06083
(PGD training: minimise the loss at the PGD point of each example); Goodfellow et al.,
arXiv:1412.6572 (FGSM training, a clean / adversarial mix); Rusak et al., arXiv:2001.06057
(Gaussian and adversarial-noise training against corruptions). The perturbation is any entry of
:data:`danlu.robust.perturb.PERTURBATIONS` (fgsm, pgd, pgd_l2, gaussian, ant).

In a config (the issue's ``train.adversarial: {...}`` is spelled as the task's args)::

    task:
      name: adversarial
      args: {attack: pgd, eps: 0.3, steps: 10, alpha: 0.01, ratio: 1.0}

Each step: the first ``round(ratio * B)`` examples of the (shuffled) batch are replaced by their
perturbed versions (the attack runs the model in eval mode, so batch-norm statistics only see
the batch the model trains on; random starts are seeded by (run seed, step) so a resumed run
repeats them), then the classification step runs on the mixed batch. Evaluation reports the
classification metrics on clean inputs plus ``robust_accuracy`` under ``eval_attack`` at ``eps``
(default PGD with the same steps and alpha, a fixed random start per batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, StepOutput
from danlu.train.tasks.classification import Classification

if TYPE_CHECKING:
    from collections.abc import Iterable

    from danlu.train.config import TrainConfig


@dataclass
class AdversarialArgs:
    """The ``task.args`` of ``adversarial``."""

    attack: str = field(default="pgd", metadata={"doc": "training perturbation: fgsm, pgd, pgd_l2, gaussian or ant"})
    eps: float = field(default=0.3, metadata={"doc": "budget: L-inf radius (fgsm, pgd), L2 radius (pgd_l2, ant) "
                                                     "or noise sigma (gaussian), in input units"})
    steps: int = field(default=10, metadata={"doc": "attack steps (pgd, pgd_l2)"})
    alpha: float = field(default=0.0, metadata={"doc": "attack step size (0: 2.5 * eps / steps, Madry et al.); "
                                                       "for ant the generator's learning rate (0: 1e-3)"})
    ratio: float = field(default=1.0, metadata={"doc": "fraction of each batch replaced by perturbed inputs "
                                                       "(1: Madry et al.; 0.5: Goodfellow et al.'s mix)"})
    eval_attack: str = field(default="pgd", metadata={"doc": "attack for val/test robust_accuracy: fgsm, pgd, "
                                                             "pgd_l2 or none (clean only)"})
    eval_eps: float = field(default=-1.0, metadata={"doc": "eval attack budget (-1: eps)"})


@TASKS.register("adversarial")
class Adversarial(Classification):
    """Classification trained on perturbed inputs; evaluation adds ``robust_accuracy``.

    Config sections read: those of ``classification``, plus ``task.args`` (:class:`AdversarialArgs`).
    """

    name: ClassVar[str] = "adversarial"
    Args: ClassVar[type] = AdversarialArgs
    default_monitor: ClassVar[str] = "accuracy"

    def __init__(self, args: Any = None, **kw: Any) -> None:
        super().__init__(args, **kw)
        from danlu.robust.perturb import create_perturbation

        a = self.args
        self.perturbation = create_perturbation(a.attack, eps=a.eps, steps=a.steps, alpha=a.alpha or None)

    @classmethod
    def check_args(cls, args: Any, where: str = "task.args") -> None:
        from danlu.robust.attacks import ATTACKS
        from danlu.robust.perturb import PERTURBATIONS
        from danlu.train.config import ConfigError

        if args.attack not in PERTURBATIONS:
            raise ConfigError(f"{where}.attack: unknown perturbation {args.attack!r}; valid: "
                              f"{', '.join(PERTURBATIONS.names())}")
        if args.eval_attack != "none" and args.eval_attack not in ATTACKS:
            raise ConfigError(f"{where}.eval_attack: unknown attack {args.eval_attack!r}; valid: none, "
                              f"{', '.join(ATTACKS.names())}")
        if not args.eps >= 0:
            raise ConfigError(f"{where}.eps must be >= 0, got {args.eps}")
        if args.steps < 1:
            raise ConfigError(f"{where}.steps must be >= 1, got {args.steps}")
        if not args.alpha >= 0:
            raise ConfigError(f"{where}.alpha must be >= 0 (0: the default), got {args.alpha}")
        if not 0.0 <= args.ratio <= 1.0:
            raise ConfigError(f"{where}.ratio must be in [0, 1], got {args.ratio}")

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        return [*super().monitors(cfg), "robust_accuracy"]

    def to(self, device: torch.device) -> Adversarial:
        super().to(device)
        if hasattr(self.perturbation, "to"):
            self.perturbation.to(device)
        return self

    def _generator(self, ctx: Context, salt: int) -> torch.Generator:
        return torch.Generator(device=ctx.device).manual_seed((ctx.seed * 1_000_003 + salt) % (2**63))

    def perturb(self, model: nn.Module, x: Tensor, y: Tensor, ctx: Context) -> Tensor:
        """The batch with its first ``round(ratio * B)`` examples perturbed (model mode restored)."""
        k = round(self.args.ratio * len(x))
        if k == 0 or self.args.eps == 0:
            return x
        # attack the unwrapped module: an extra forward/backward through DDP would confuse its reducer
        target = ctx.model if ctx.model is not None else model
        adv = self.perturbation(target, x[:k], y[:k], self._generator(ctx, ctx.step))
        return torch.cat([adv, x[k:]]) if k < len(x) else adv

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, y = batch  # (B, ...), (B,)
        return super().training_step(model, (self.perturb(model, x, y, ctx), y), ctx)

    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Clean metrics (classification's) and ``robust_accuracy`` under ``eval_attack`` at ``eval_eps``."""
        out = super().evaluate(model, loader, ctx)
        if self.args.eval_attack == "none":
            return out
        from danlu.robust.attacks import ATTACKS
        from danlu.robust.perturb import AttackPerturbation

        a = self.args
        eps = a.eps if a.eval_eps < 0 else a.eval_eps
        ATTACKS.get(a.eval_attack)
        attack = AttackPerturbation(a.eval_attack, eps, a.steps, a.alpha or None)
        was_training = model.training
        model.eval()
        sums = torch.zeros(2, device=ctx.device, dtype=torch.float64)
        for i, (x, y) in enumerate(loader):
            x, y = x.to(ctx.device), y.to(ctx.device)
            with torch.enable_grad():
                adv = attack(model, x, y, self._generator(ctx, -1 - i))
            with torch.no_grad():
                sums += torch.stack([(model(adv).argmax(1) == y).sum(), torch.tensor(len(y))]).double()
        model.train(was_training)
        ctx.all_reduce_sum(sums)
        out["robust_accuracy"] = float(sums[0] / sums[1].clamp(min=1))
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"perturbation": self.perturbation.state_dict()} if hasattr(self.perturbation, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("perturbation") is not None and hasattr(self.perturbation, "load_state_dict"):
            self.perturbation.load_state_dict(state["perturbation"])
