"""SSD: a single-shot multibox detector (Liu et al., "SSD: Single Shot MultiBox Detector", arXiv:1512.02325).

A :class:`~danlu.detection.backbone.Backbone` gives feature maps at several scales; on each, a 3x3
conv predicts, for every anchor of every cell, ``C + 1`` class logits (0 = background) and 4 box
offsets (SSD's variance-scaled encoding, :func:`danlu.metrics.boxes.encode_boxes`). Anchors are
:func:`danlu.metrics.boxes.multibox_anchors` (normalised xyxy), one set per level, concatenated
level by level (cell-major inside a level, as the heads' outputs are flattened).

:meth:`SSD.detect` decodes, keeps scores above a threshold, runs per-class NMS
(``torchvision.ops.batched_nms``) and returns pixel boxes per image; the training loss is in
:mod:`danlu.detection.loss`. Class scores are a softmax over ``C + 1`` (``scores="softmax"``, for
hard-negative mining) or per-class sigmoids of the ``C`` foreground logits (``scores="sigmoid"``,
for the focal loss, with the RetinaNet prior init, Lin et al. arXiv:1708.02002).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from danlu.detection.backbone import Backbone, to_float
from danlu.errors import DanluError
from danlu.metrics.boxes import batched_nms, decode_boxes, multibox_anchors

#: anchor sizes (fractions of the image) per level for 4 levels (16, 8, 4, 2 cells on a 64-px image)
DEFAULT_SIZES = ((0.12, 0.17), (0.22, 0.3), (0.37, 0.46), (0.55, 0.7))
SCORES = ("softmax", "sigmoid")


class SSD(nn.Module):
    """Single-shot detector: (B, 3, H, W) -> class logits (B, A, C + 1) and box offsets (B, A, 4).

    Args:
        num_classes: C foreground classes (labels 1..C; 0 is background).
        image_size: side of the (square) input images in pixels.
        widths: backbone stage widths; the last ``len(sizes)`` stages are the detection levels.
        sizes: anchor sizes per level (fractions of the image side).
        ratios: anchor aspect ratios (the same on every level).
        scores: ``"softmax"`` over C + 1 or ``"sigmoid"`` per class (see the module docstring).
        prior: the sigmoid heads' initial foreground probability (RetinaNet's 0.01).
    """

    def __init__(self, num_classes: int = 4, image_size: int = 64, widths: Sequence[int] = (16, 32, 32, 64, 64, 64),
                 sizes: Sequence[Sequence[float]] = DEFAULT_SIZES, ratios: Sequence[float] = (1.0, 2.0, 0.5),
                 scores: str = "softmax", prior: float = 0.01) -> None:
        super().__init__()
        if num_classes < 1:
            raise DanluError(f"SSD num_classes must be >= 1, got {num_classes}")
        if scores not in SCORES:
            raise DanluError(f"SSD scores must be one of {SCORES}, got {scores!r}")
        if len(sizes) > len(widths):
            raise DanluError(f"SSD has {len(sizes)} anchor levels but only {len(widths)} backbone stages")
        self.num_classes, self.image_size, self.scores = num_classes, image_size, scores
        self.backbone = Backbone(widths)
        self.first_level = len(widths) - len(sizes)
        per_cell = [len(s) + len(ratios) - 1 for s in sizes]
        chans = self.backbone.widths[self.first_level:]
        self.cls_heads = nn.ModuleList(nn.Conv2d(c, k * (num_classes + 1), 3, padding=1)
                                       for c, k in zip(chans, per_cell, strict=True))
        self.box_heads = nn.ModuleList(nn.Conv2d(c, k * 4, 3, padding=1) for c, k in zip(chans, per_cell, strict=True))
        anchors = []
        for lvl, s in enumerate(sizes):
            cells = image_size // 2 ** (self.first_level + lvl)
            if cells < 1:
                raise DanluError(f"SSD level {lvl} has no cells at image_size={image_size}; use fewer levels")
            anchors.append(multibox_anchors((cells, cells), s, ratios))
        self.register_buffer("anchors", torch.cat(anchors), persistent=False)  # (A, 4) normalised xyxy
        if scores == "sigmoid":
            for head in self.cls_heads:
                nn.init.constant_(head.bias, -math.log((1 - prior) / prior))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.backbone(to_float(x))[self.first_level:]
        B, C1 = x.shape[0], self.num_classes + 1
        cls = [h(f).permute(0, 2, 3, 1).reshape(B, -1, C1) for h, f in zip(self.cls_heads, feats, strict=True)]
        box = [h(f).permute(0, 2, 3, 1).reshape(B, -1, 4) for h, f in zip(self.box_heads, feats, strict=True)]
        return torch.cat(cls, 1), torch.cat(box, 1)  # (B, A, C+1), (B, A, 4)

    def class_probs(self, logits: Tensor) -> Tensor:
        """(B, A, C + 1) logits -> (B, A, C) foreground probabilities."""
        if self.scores == "sigmoid":
            return torch.sigmoid(logits[..., 1:])
        return torch.softmax(logits, -1)[..., 1:]

    @torch.no_grad()
    def detect(self, x: Tensor, *, score_threshold: float = 0.05, nms_iou: float = 0.45, top_k: int = 200,
               max_detections: int = 100) -> list[dict[str, Tensor]]:
        """Detections per image: ``boxes`` (K, 4) xyxy pixels, ``scores`` (K,), ``labels`` (K,) in 1..C."""
        logits, offsets = self(x)
        return postprocess(self.class_probs(logits.float()), offsets.float(), self.anchors,
                           image_hw=tuple(x.shape[-2:]), score_threshold=score_threshold, nms_iou=nms_iou,
                           top_k=top_k, max_detections=max_detections)


def postprocess(probs: Tensor, offsets: Tensor, anchors: Tensor, *, image_hw: tuple[int, int],
                score_threshold: float = 0.05, nms_iou: float = 0.45, top_k: int = 200,
                max_detections: int = 100) -> list[dict[str, Tensor]]:
    """Decode offsets (B, A, 4), threshold class probabilities (B, A, C), per-class NMS, keep the best.

    Per image: the (anchor, class) pairs with probability > ``score_threshold``, the ``top_k``
    best of them, per-class NMS at ``nms_iou``, then at most ``max_detections`` by score
    (torchvision's SSD postprocess order, across classes rather than per class).
    """
    H, W = image_hw
    scale = torch.tensor([W, H, W, H], dtype=offsets.dtype, device=offsets.device)
    boxes = decode_boxes(offsets, anchors).clamp(0, 1) * scale  # (B, A, 4) pixels
    C = probs.shape[-1]
    out = []
    for b in range(len(probs)):
        p = probs[b].flatten()  # (A * C,)
        keep = torch.nonzero(p > score_threshold).flatten()
        if len(keep) > top_k:
            keep = keep[p[keep].topk(top_k).indices]
        scores, anchor, cls = p[keep], keep // C, keep % C
        bx = boxes[b, anchor]
        ok = (bx[:, 2] > bx[:, 0]) & (bx[:, 3] > bx[:, 1])
        bx, scores, cls = bx[ok], scores[ok], cls[ok]
        kept = batched_nms(bx, scores, cls, nms_iou)[:max_detections]
        out.append({"boxes": bx[kept], "scores": scores[kept], "labels": cls[kept] + 1})
    return out
