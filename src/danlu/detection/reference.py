"""torchvision's SSD built to be danlu's SSD: the reference of the detection tests and benchmarks.

torchvision's ``SSD`` (``torchvision.models.detection.ssd``, Liu et al. arXiv:1512.02325) gets the
same :class:`~danlu.detection.backbone.Backbone` stages, a ``DefaultBoxGenerator`` whose anchors
equal danlu's (level k: sizes ``s_k`` and ``sqrt(s_k s_{k+1})`` at ratio 1, then ratios 2 and 1/2,
centres at (j + 0.5) / cells, in the same order), no input normalisation (mean 0, std 1, like
danlu's x / 255) and danlu's postprocess settings (score 0.05, NMS 0.45, 100 detections). Its head
lays out its outputs as danlu's (anchor-major, then class), so :func:`copy_weights` makes the two
models compute the same function; its loss is its own (``SSD.compute_loss``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from danlu.detection.backbone import Backbone

WIDTHS = [16, 32, 32, 64, 64, 64]
SCALES = [0.12, 0.22, 0.37, 0.55, 0.89]  #: torchvision's scales for 4 levels


def danlu_sizes(scales: Sequence[float]) -> list[list[float]]:
    """danlu's per-level anchor sizes equal to torchvision's ``DefaultBoxGenerator(scales=scales)``."""
    return [[scales[k], math.sqrt(scales[k] * scales[k + 1])] for k in range(len(scales) - 1)]


SIZES = danlu_sizes(SCALES)


class LevelsBackbone(nn.Module):
    """danlu's Backbone returning the detection levels as the OrderedDict torchvision's SSD expects."""

    def __init__(self, widths: Sequence[int], levels: int) -> None:
        super().__init__()
        self.body, self.first = Backbone(widths), len(widths) - levels

    def forward(self, x: torch.Tensor) -> OrderedDict:
        return OrderedDict((str(i), f) for i, f in enumerate(self.body(x)[self.first:]))


def torchvision_ssd(num_classes: int, image_size: int, widths: Sequence[int] = WIDTHS,
                    scales: Sequence[float] = SCALES, **kw: float) -> nn.Module:
    """torchvision's ``SSD`` for ``num_classes`` foreground classes with danlu's backbone ``widths``; the last
    ``len(scales) - 1`` stages are its levels. ``kw`` overrides its postprocess settings."""
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD, SSDHead

    levels = len(scales) - 1
    anchors = DefaultBoxGenerator([[2]] * levels, scales=list(scales))
    head = SSDHead(list(widths[-levels:]), anchors.num_anchors_per_location(), num_classes + 1)
    settings = {"score_thresh": 0.05, "nms_thresh": 0.45, "detections_per_img": 100, "topk_candidates": 200, **kw}
    return SSD(LevelsBackbone(widths, levels), anchors, (image_size, image_size), num_classes + 1,
               image_mean=[0.0, 0.0, 0.0], image_std=[1.0, 1.0, 1.0], head=head, **settings)


@torch.no_grad()
def copy_weights(ours: nn.Module, tv: nn.Module) -> None:
    """Give torchvision's SSD ``tv`` the backbone and head weights of danlu's SSD ``ours``."""
    tv.backbone.body.load_state_dict(ours.backbone.state_dict())
    for mine, theirs in ((ours.cls_heads, tv.head.classification_head.module_list),
                         (ours.box_heads, tv.head.regression_head.module_list)):
        theirs.load_state_dict(mine.state_dict())


def tv_inputs(x: torch.Tensor, t: torch.Tensor) -> tuple[list[torch.Tensor], list[dict]]:
    """danlu's (uint8 images, padded targets) -> torchvision's lists of float images and target dicts."""
    from danlu.detection.targets import unpad

    labels, boxes, valid = unpad(t)
    images = list(x.float() / 255)
    return images, [{"boxes": boxes[i][valid[i]], "labels": labels[i][valid[i]]} for i in range(len(x))]
