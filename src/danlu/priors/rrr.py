"""Right for the Right Reasons (Ross, Hughes & Doshi-Velez 2017, arXiv:1703.03717, eq. 1).

The loss adds to cross entropy an input-gradient penalty on the annotated ("irrelevant") inputs:

    L = CE(ŷ, y) + λ₁ · mean_n Σ_d (A_nd · ∂/∂x_nd Σ_k log ŷ_nk)²

A (same shape as x) is 1 where the model should not look. The gradient is taken with
``create_graph=True`` so the penalty trains the weights (a double backward). The paper's λ₂‖θ‖² term
is weight decay, left to the optimizer. Ross et al. sum over the batch; danlu averages over it (as
its cross entropy does), so λ₁ here is theirs divided by the batch size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.train.schema import doc_field
from danlu.train.tasks.base import Context, StepOutput
from danlu.train.tasks.classification import Classification


def input_gradient_penalty(logits: Tensor, x: Tensor, mask: Tensor) -> Tensor:
    """mean_n Σ_d (mask · ∂(Σ_k log softmax(logits)_nk)/∂x)² for logits (B, C) computed from x (B, ...)
    (which must require grad); mask has x's shape (or broadcasts from (1, ...) over the batch)."""
    if mask.dim() != x.dim() or any(m not in (1, s) for m, s in zip(mask.shape, x.shape)) or mask.shape[1:] != \
            x.shape[1:]:
        raise DanluError(f"input_gradient_penalty: mask must have the input's shape {tuple(x.shape)} (or batch 1), "
                         f"got {tuple(mask.shape)}")
    if not x.requires_grad:
        raise DanluError("input_gradient_penalty: x must require grad (set x.requires_grad_(True) before the forward)")
    (grad,) = torch.autograd.grad(F.log_softmax(logits, dim=1).sum(), x, create_graph=True)
    return (mask.to(grad.dtype) * grad).pow(2).reshape(len(x), -1).sum(1).mean()


@dataclass
class RRRArgs:
    """Fields of the RRR task."""

    weight: float = doc_field(10.0, "λ₁: weight of the input-gradient penalty on the annotated inputs")


class RRRTask(Classification):
    """Classification whose training batches are ``(x, y, mask)`` and whose loss is the RRR loss.

    Evaluation batches are ``(x, y)`` or ``(x, y, mask)`` (the mask is ignored there): evaluation
    is the plain classification one (loss = cross entropy, the task's metrics).
    """

    name: ClassVar[str] = "rrr"
    Args: ClassVar[type] = RRRArgs

    def __init__(self, args: RRRArgs | None = None, *, loss_fn: Any = None,
                 metrics: list[str] | tuple[str, ...] = ("accuracy",)) -> None:
        super().__init__(args, loss_fn=loss_fn, metrics=metrics)
        if not self.args.weight >= 0:
            raise DanluError(f"RRRTask: weight must be >= 0, got {self.args.weight}")

    def stat_names(self) -> list[str]:
        return ["loss", *self.metrics, "penalty"]

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        if len(batch) != 3:
            raise DanluError("RRRTask: training batches must be (x, y, mask); got "
                             f"{len(batch)} tensors")
        x, y, mask = batch  # (B, ...), (B,), (B, ...)
        x = x.detach().requires_grad_(True)
        out = super().training_step(model, (x, y), ctx)
        pen = input_gradient_penalty(out.outputs, x, mask)
        stats = torch.cat([out.stats, torch.stack([pen.detach().float(), out.stats.new_ones(())])])
        return StepOutput(out.loss + self.args.weight * pen, stats, out.outputs)

    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        return super().evaluate(model, ((b[0], b[1]) for b in loader), ctx)
