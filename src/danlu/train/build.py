"""Turn a :class:`~danlu.train.config.TrainConfig` into objects, by registry lookups only.

The model constructor gets the data-dependent arguments it declares: ``in_features``
(product of the input shape), ``in_channels`` (first input dim), ``image_size`` (last input
dim), ``input_shape`` and ``num_classes``; values in ``model.args`` win.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import torch
from torch import nn

from danlu.data import Splits
from danlu.errors import DanluError
from danlu.losses import create_loss
from danlu.models import MODELS, create_model
from danlu.optim import create_optimizer, create_schedule
from danlu.train.config import TrainConfig


def model_kwargs(name: str, splits: Splits, args: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for model ``name``: ``args`` plus the data sizes its constructor takes."""
    factory = MODELS.get(name)
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    shape = tuple(splits.input_shape)
    derived = {"in_features": math.prod(shape), "in_channels": shape[0] if shape else 1,
               "image_size": shape[-1] if shape else 1, "input_shape": shape, "num_classes": splits.num_classes}
    return {**{k: v for k, v in derived.items() if k in params}, **args}


def build_model(cfg: TrainConfig, splits: Splits) -> nn.Module:
    """The registered model, sized for ``splits``."""
    try:
        return create_model(cfg.model.name, **model_kwargs(cfg.model.name, splits, cfg.model.args))
    except TypeError as exc:
        raise DanluError(f"model {cfg.model.name!r} rejected model.args {cfg.model.args}: {exc}") from None


def build_optimization(cfg: TrainConfig, model: nn.Module, total_steps: int, *,
                       lr: float | None = None) -> tuple[torch.optim.Optimizer, Any]:
    """Optimizer (learning rate ``lr``, default ``optim.lr``) and per-step LR schedule from the registries."""
    try:
        opt = create_optimizer(cfg.optim.name, model, lr=cfg.optim.lr if lr is None else lr,
                               weight_decay=cfg.optim.weight_decay, **cfg.optim.args)
    except TypeError as exc:
        raise DanluError(f"optimizer {cfg.optim.name!r} rejected optim.args {cfg.optim.args}: {exc}") from None
    try:
        sched = create_schedule(cfg.schedule.name, opt, total_steps=total_steps, **cfg.schedule.args)
    except TypeError as exc:
        raise DanluError(f"schedule {cfg.schedule.name!r} rejected schedule.args {cfg.schedule.args}: {exc}") from None
    return opt, sched


def build_loss(cfg: TrainConfig) -> nn.Module:
    """The registered loss."""
    try:
        return create_loss(cfg.loss.name, **cfg.loss.args)
    except TypeError as exc:
        raise DanluError(f"loss {cfg.loss.name!r} rejected loss.args {cfg.loss.args}: {exc}") from None


#: precision name -> (autocast dtype or None, uses GradScaler)
PRECISIONS: dict[str, tuple[torch.dtype | None, bool]] = {
    "fp32": (None, False), "bf16": (torch.bfloat16, False), "fp16": (torch.float16, True)}


def check_precision(precision: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """Autocast dtype and GradScaler use for ``precision`` on ``device``."""
    dtype, scaled = PRECISIONS[precision]
    if scaled and device.type != "cuda":
        raise DanluError(f"loop.precision={precision!r} needs CUDA (GradScaler); on {device.type} use bf16 or fp32")
    return dtype, scaled
