"""Train and score a detector or segmenter in memory on shapes: what the lab cards and benchmarks share.

Both go through :func:`danlu.train.fit` with the registered ``detection`` / ``segmentation`` task
(the engine of ``danlu train``), AdamW with a cosine schedule and 10% linear warmup.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from danlu.data import Splits


def _optim(model: nn.Module, lr: float, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    from danlu.optim import create_optimizer, create_schedule

    opt = create_optimizer("adamw", model, lr=lr, weight_decay=5e-4)
    return opt, create_schedule("cosine", opt, total_steps=steps, warmup_steps=max(steps // 10, 1))


def train_detector(splits: Splits, args: dict[str, Any], *, steps: int, seed: int, lr: float = 3e-3,
                   batch_size: int = 32) -> tuple[Any, nn.Module]:
    """An SSD trained for ``steps`` on ``splits.train`` with detection ``task.args`` ``args``; (task, model in eval mode)."""
    from danlu.train import fit
    from danlu.train.tasks import create_task

    task = create_task("detection", args)
    task.describe_data(splits)
    torch.manual_seed(seed)
    model = task.make_model(splits.num_classes, splits.input_shape[-1])
    opt, sched = _optim(model, lr, steps)
    fit(task, model, splits.train, steps=steps, seed=seed, batch_size=batch_size, optimizer=opt, schedule=sched)
    return task, model.eval()


def detection_scores(task: Any, model: nn.Module, ds: Any) -> tuple[dict[str, float], list[dict[str, torch.Tensor]]]:
    """COCO stats (AP, AP50, ...) of the model's detections on a shapes split, and the detections."""
    from danlu.detection.evaluate import coco_stats

    x, t = ds.tensors[:2]
    dets = [d for i in range(0, len(x), 128) for d in task.detect(model, x[i:i + 128])]
    return coco_stats(t, dets, task.image_hw, task.classes), dets


def train_segmenter(splits: Splits, args: dict[str, Any], *, steps: int, seed: int, lr: float = 5e-3,
                    batch_size: int = 32) -> tuple[Any, nn.Module]:
    """An FCN trained for ``steps`` on ``splits.train``; (task, model in eval mode)."""
    from danlu.train import fit
    from danlu.train.tasks import create_task

    task = create_task("segmentation", args)
    torch.manual_seed(seed)
    model = task.make_model(splits.num_classes + 1)
    opt, sched = _optim(model, lr, steps)
    fit(task, model, splits.train, steps=steps, seed=seed, batch_size=batch_size, optimizer=opt, schedule=sched)
    return task, model.eval()
