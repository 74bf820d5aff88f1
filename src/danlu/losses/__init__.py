"""Losses (registry). Each entry: a constructor ``fn(**kw) -> nn.Module`` whose forward is
``loss(logits, target) -> tensor`` (a scalar unless ``reduction="none"``).

Registered: ``cross_entropy`` (torch's), ``label_smoothing_ce``, ``soft_target_ce``, ``focal``
(multi-class softmax focal), ``sigmoid_focal`` (binary, torchvision's definition), ``flooding``
(wraps another loss: ``|L - b| + b``).

Angular-margin heads (:mod:`danlu.losses.margin`, registry ``MARGIN_HEADS``): ``lsoftmax``,
``sphereface``, ``normface``, ``cosface``, ``arcface``, ``combined``. They hold class weights, so
they are modules ``head(embeddings (B, D), labels (B,)) -> loss`` whose parameters train with the
backbone, not entries of ``LOSSES``.

    >>> import torch
    >>> from danlu.losses import create_loss
    >>> loss = create_loss("focal", gamma=2.0, alpha=[0.25, 0.75])
    >>> loss(torch.zeros(4, 2), torch.tensor([0, 1, 1, 0])).shape
    torch.Size([])
"""

from __future__ import annotations

from typing import Any

from torch import nn

from danlu.registry import Registry

LOSSES: Registry = Registry("loss")


@LOSSES.register("cross_entropy")
def _cross_entropy(**kw: Any) -> nn.Module:
    return nn.CrossEntropyLoss(**kw)


def create_loss(name: str, **kw: Any) -> nn.Module:
    """Build loss ``name`` (see ``LOSSES.names()``); unknown names raise with the valid ones listed."""
    return LOSSES.create(name, **kw)


# Importing these modules fills LOSSES.
from danlu.losses.flooding import Flooding, flood  # noqa: E402  isort: skip
from danlu.losses.focal import FocalLoss, SigmoidFocalLoss, sigmoid_focal_loss, softmax_focal_loss  # noqa: E402  isort: skip
from danlu.losses.margin import (  # noqa: E402  isort: skip
    MARGIN_HEADS, ArcFace, CombinedMargin, CosFace, LSoftmax, MarginHead, NormFace, SphereFace, create_margin_head)
from danlu.losses.smoothing import (  # noqa: E402  isort: skip
    LabelSmoothingCrossEntropy, SoftTargetCrossEntropy, label_smoothing_cross_entropy, soft_target_cross_entropy)

__all__ = ["LOSSES", "MARGIN_HEADS", "ArcFace", "CombinedMargin", "CosFace", "LSoftmax", "MarginHead", "NormFace",
           "SphereFace", "create_margin_head", "Flooding", "FocalLoss", "LabelSmoothingCrossEntropy", "SigmoidFocalLoss",
           "SoftTargetCrossEntropy", "create_loss", "flood", "label_smoothing_cross_entropy",
           "sigmoid_focal_loss", "soft_target_cross_entropy", "softmax_focal_loss"]
