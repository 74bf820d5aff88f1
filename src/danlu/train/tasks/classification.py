"""Classification: logits = model(x), a registered loss against class labels, accuracy-style metrics.

The behaviour of ``danlu train`` before tasks existed, moved here unchanged (same operations in
the same order, so weights and logs are bit-identical). Batches are ``(x, y)``: x (B, ...), y (B,)
class indices (or (B, T) for per-token classification; -100 marks "no label").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn

from danlu.train.metrics import METRICS, metric_sums
from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, Optimization, StepOutput, Task

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig


@TASKS.register("classification")
class Classification(Task):
    """Supervised classification (the default task).

    Args:
        loss_fn: ``fn(logits, target) -> ()``; from a config, the registered ``loss`` section.
        metrics: names in ``danlu.train.metrics.METRICS`` computed on train and eval batches.

    Config sections read: model, data, optim, schedule, loss, metrics. No ``task.args``.
    """

    name: ClassVar[str] = "classification"
    reads: ClassVar[tuple[str, ...]] = ("model", "data", "optim", "schedule", "loss", "metrics")
    default_monitor: ClassVar[str] = "accuracy"

    def __init__(self, args: Any = None, *, loss_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
                 metrics: Sequence[str] = ()) -> None:
        super().__init__(args)
        self.loss_fn = loss_fn if loss_fn is not None else nn.functional.cross_entropy
        self.metrics = list(metrics)
        self._ones: dict[torch.device, Tensor] = {}

    def _one(self, device: torch.device) -> Tensor:
        one = self._ones.get(device)
        if one is None:
            one = self._ones[device] = torch.ones((), device=device)
        return one

    @classmethod
    def from_config(cls, cfg: TrainConfig) -> Classification:
        from danlu.train.build import build_loss
        from danlu.train.tasks.base import parse_args

        return cls(parse_args(cls, cfg.task.args), loss_fn=build_loss(cfg), metrics=cfg.metrics)

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        return ["loss", *cfg.metrics]

    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        from danlu.train.build import build_model

        return build_model(cfg, splits)

    def build_optimizers(self, cfg: TrainConfig, model: nn.Module, total_steps: int) -> dict[str, Optimization]:
        from danlu.train.build import build_optimization

        optimizer, schedule = build_optimization(cfg, model, total_steps)
        return {"main": Optimization(optimizer, schedule)}

    def stat_names(self) -> list[str]:
        return ["loss", *self.metrics]

    def select(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The examples the loss and metrics see: ``(logits (K, C), labels (K,))``. Identity here;
        per-token classification keeps the labelled positions only."""
        return logits, y

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, y = batch  # (B, ...), (B,)
        logits = model(x)  # (B, C)
        flat, target = self.select(logits, y)  # (K, C), (K,)
        loss = self.loss_fn(flat, target)  # ()
        sums = [v for n in self.metrics for v in METRICS.get(n)(flat.detach().float(), target)]  # 2M x ()
        stats = torch.stack([loss.detach().float(), self._one(loss.device), *sums])  # (2 + 2M,)
        return StepOutput(loss, stats, logits)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Mean loss (per sample) and metrics, summed across ranks before dividing."""
        was_training = model.training
        model.eval()
        sums = torch.zeros(2 + 2 * len(self.metrics), device=ctx.device, dtype=torch.float64)
        for x, y in loader:
            x, y = x.to(ctx.device), y.to(ctx.device)
            with ctx.autocast():
                logits = model(x)  # (B, C)
            flat, target = self.select(logits.float(), y)  # (K, C), (K,)
            if len(target) == 0:
                continue
            loss = self.loss_fn(flat, target)  # () mean over the batch's examples
            sums += torch.cat([(loss * len(target)).view(1), loss.new_tensor([len(target)]),
                               metric_sums(self.metrics, flat, target).flatten()]).double()
        model.train(was_training)
        ctx.all_reduce_sum(sums)
        out = {"loss": float(sums[0] / sums[1].clamp(min=1))}
        for i, name in enumerate(self.metrics):
            out[name] = float(sums[2 + 2 * i] / sums[3 + 2 * i].clamp(min=1))
        return out

    def predict(self, model: nn.Module, batch: Any) -> Tensor:
        """Logits (B, C) of the batch's inputs."""
        return model(batch[0])
