"""Token classification: logits (B, T, C) = model(x), one class label per position, -100 marks "no label".

A causal language model trained on next-token or copy targets is this task: every position whose
target is not -100 is one classification example. The loss and the metrics see the labelled
positions only, flattened to (K, C) logits and (K,) labels, so any registered loss and metric of
the classification task applies; with the default loss this is
``F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-100)`` (a mean over labelled
tokens, as in GPT-style LM training; Radford et al. 2018). Evaluation weighs every labelled token
equally across batches (summed totals divided at the end), e.g. token accuracy.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from danlu.train.metrics import METRICS, metric_sums
from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, StepOutput
from danlu.train.tasks.classification import Classification

IGNORE = -100


def labelled(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The labelled positions: logits (B, T, C), y (B, T) -> (K, C), (K,) where y != -100."""
    if logits.dim() != 3 or y.shape != logits.shape[:2]:
        raise ValueError(f"token_classification: expected logits (B, T, C) and targets (B, T), got "
                         f"{tuple(logits.shape)} and {tuple(y.shape)}")
    keep = y != IGNORE  # (B, T)
    return logits[keep], y[keep]


@TASKS.register("token_classification")
class TokenClassification(Classification):
    """Per-token classification (language models on sequence tasks); the model maps (B, T) -> (B, T, C).

    Args:
        loss_fn: ``fn(logits (K, C), target (K,)) -> ()`` on the labelled positions (default: cross entropy).
        metrics: names in ``danlu.train.metrics.METRICS``, computed on labelled positions.

    Config sections read: those of ``classification``. No ``task.args``.
    """

    name: ClassVar[str] = "token_classification"

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, y = batch  # (B, T), (B, T)
        logits = model(x)  # (B, T, C)
        flat, target = labelled(logits, y)  # (K, C), (K,)
        loss = self.loss_fn(flat, target)  # ()
        sums = [v for n in self.metrics for v in METRICS.get(n)(flat.detach().float(), target)]  # 2M x ()
        stats = torch.stack([loss.detach().float(), self._one(loss.device), *sums])  # (2 + 2M,)
        return StepOutput(loss, stats, logits)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Mean loss per labelled token and metrics over labelled tokens, summed across ranks before dividing."""
        was_training = model.training
        model.eval()
        sums = torch.zeros(2 + 2 * len(self.metrics), device=ctx.device, dtype=torch.float64)
        for x, y in loader:
            x, y = x.to(ctx.device), y.to(ctx.device)
            with ctx.autocast():
                logits = model(x)  # (B, T, C)
            flat, target = labelled(logits.float(), y)  # (K, C), (K,)
            if len(target) == 0:
                continue
            loss = self.loss_fn(flat, target)  # () mean over the labelled tokens
            sums += torch.cat([(loss * len(target)).view(1), loss.new_tensor([len(target)]),
                               metric_sums(self.metrics, flat, target).flatten()]).double()
        model.train(was_training)
        ctx.all_reduce_sum(sums)
        out = {"loss": float(sums[0] / sums[1].clamp(min=1))}
        for i, name in enumerate(self.metrics):
            out[name] = float(sums[2 + 2 * i] / sums[3 + 2 * i].clamp(min=1))
        return out

    def predict(self, model: nn.Module, batch: Any) -> Tensor:
        """Logits (B, T, C) of the batch's inputs."""
        return model(batch[0])
