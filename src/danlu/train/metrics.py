"""Training metrics as sufficient statistics, so they add up across batches and DDP ranks.

Each entry of :data:`METRICS` is ``fn(logits, target) -> (total, count)``: two 0-d float tensors
whose ratio over any union of batches is the metric (the torchmetrics update/compute split).
``logits`` is (B, C) or (B, T, C); ``target`` is (B,) or (B, T) class indices, with -100 meaning
"no label here" (as ``nn.CrossEntropyLoss``'s default ``ignore_index``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from danlu.registry import Registry

IGNORE_INDEX = -100

METRICS: Registry[Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]] = Registry("metric")


def _topk(logits: Tensor, target: Tensor, k: int) -> tuple[Tensor, Tensor]:
    mask = target != IGNORE_INDEX  # (B,) or (B, T)
    k = min(k, logits.shape[-1])
    top = logits.topk(k, dim=-1).indices  # (..., k)
    hit = (top == target.unsqueeze(-1)).any(-1) & mask  # (...)
    return hit.sum().float(), mask.sum().float()


@METRICS.register("accuracy")
def accuracy(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Top-1 accuracy: (number correct, number labelled). An argmax is never -100, so no mask is needed for hits."""
    hits = (logits.argmax(-1) == target).sum()  # ()
    return hits.float(), (target != IGNORE_INDEX).sum().float()


@METRICS.register("top5")
def top5(logits: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Top-5 accuracy: (number with the label among the 5 largest logits, number labelled)."""
    return _topk(logits, target, 5)


def metric_sums(names: list[str], logits: Tensor, target: Tensor) -> Tensor:
    """Stack the (total, count) pairs of ``names`` into one (len(names), 2) tensor."""
    if not names:
        return torch.zeros(0, 2, device=logits.device)
    return torch.stack([v for n in names for v in METRICS.get(n)(logits, target)]).view(len(names), 2)  # (M, 2)
