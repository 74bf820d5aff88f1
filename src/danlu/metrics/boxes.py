"""Boxes: formats, IoU/GIoU, batched NMS, SSD anchors, anchor matching, offset encode/decode.

References: Liu et al., "SSD: Single Shot MultiBox Detector" (arXiv:1512.02325) for default boxes
(anchors), matching and the variance-scaled offsets; Rezatofighi et al., "Generalized Intersection
over Union" (arXiv:1902.09630) for GIoU. Where torchvision.ops has the operation (``box_convert``,
``box_iou``, ``generalized_box_iou``, ``batched_nms``) it is used; danlu adds batching over a
leading dimension, anchors and SSD matching/encoding.

Formats: ``"xyxy"`` (x1, y1, x2, y2), ``"xywh"`` (x1, y1, w, h), ``"cxcywh"`` (cx, cy, w, h); boxes
are ``(..., 4)`` float tensors.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from danlu.errors import DanluError

FORMATS = ("xyxy", "xywh", "cxcywh")


def _check_boxes(boxes: torch.Tensor, name: str = "boxes") -> None:
    if not isinstance(boxes, torch.Tensor) or boxes.shape[-1:] != (4,):
        shape = tuple(boxes.shape) if isinstance(boxes, torch.Tensor) else type(boxes).__name__
        raise DanluError(f"{name} must be a (..., 4) tensor, got {shape}")


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert (..., 4) boxes between ``xyxy``, ``xywh`` and ``cxcywh`` (torchvision.ops.box_convert)."""
    from torchvision.ops import box_convert as tv_convert

    for f in (in_fmt, out_fmt):
        if f not in FORMATS:
            raise DanluError(f"unknown box format {f!r}; valid: {', '.join(FORMATS)}")
    _check_boxes(boxes)
    shape = boxes.shape
    return tv_convert(boxes.reshape(-1, 4), in_fmt, out_fmt).reshape(shape)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU matrix of xyxy boxes: (N, 4) x (M, 4) -> (N, M), or batched (B, N, 4) x (B, M, 4) -> (B, N, M)."""
    from torchvision.ops import box_iou as tv_iou

    _check_boxes(a, "a")
    _check_boxes(b, "b")
    if a.dim() == 2 and b.dim() == 2:
        return tv_iou(a, b)
    if a.dim() != 3 or b.dim() != 3 or a.shape[0] != b.shape[0]:
        raise DanluError(f"box_iou takes (N, 4) x (M, 4) or (B, N, 4) x (B, M, 4), got {tuple(a.shape)} x {tuple(b.shape)}")
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])  # (B, N)
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # (B, M)
    lt = torch.maximum(a[:, :, None, :2], b[:, None, :, :2])  # (B, N, M, 2)
    rb = torch.minimum(a[:, :, None, 2:], b[:, None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]  # (B, N, M)
    return inter / (area_a[:, :, None] + area_b[:, None, :] - inter)


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """GIoU matrix of xyxy boxes (N, 4) x (M, 4) -> (N, M) in [-1, 1] (torchvision.ops)."""
    from torchvision.ops import generalized_box_iou as tv_giou

    _check_boxes(a, "a")
    _check_boxes(b, "b")
    return tv_giou(a, b)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Per-class (``idxs``) NMS of xyxy boxes (N, 4) with scores (N,); kept indices by score (torchvision)."""
    from torchvision.ops import batched_nms as tv_nms

    _check_boxes(boxes)
    if scores.shape != boxes.shape[:1] or idxs.shape != boxes.shape[:1]:
        raise DanluError(f"scores {tuple(scores.shape)} and idxs {tuple(idxs.shape)} must be ({boxes.shape[0]},)")
    return tv_nms(boxes, scores, idxs, iou_threshold)


def multibox_anchors(feature_hw: tuple[int, int], sizes: Sequence[float], ratios: Sequence[float],
                     image_hw: tuple[int, int] | None = None) -> torch.Tensor:
    """SSD default boxes: per feature-map cell, ``len(sizes) + len(ratios) - 1`` anchors.

    Anchor shapes are (s_i, r_0) for every size and (s_0, r_j) for j >= 1 (the SSD/d2l choice that
    avoids n*m boxes per cell); width ``s * sqrt(r)``, height ``s / sqrt(r)`` as fractions of the
    image, with the width scaled by ``H / W`` of ``image_hw`` so that ratio 1 is square in pixels.

    Args:
        feature_hw: (H, W) feature-map cells; centers at ((j + .5) / W, (i + .5) / H).
        sizes: anchor scales in (0, 1].
        ratios: width/height aspect ratios (> 0).
        image_hw: the image size (default: square).

    Returns:
        (H * W * (len(sizes) + len(ratios) - 1), 4) normalized xyxy anchors, cell-major.
    """
    H, W = feature_hw
    if H < 1 or W < 1 or not sizes or not ratios or min(sizes) <= 0 or min(ratios) <= 0:
        raise DanluError(f"anchors need a positive feature map and positive sizes/ratios, got {feature_hw}, "
                         f"{list(sizes)}, {list(ratios)}")
    s = torch.tensor([float(x) for x in sizes], dtype=torch.float32)
    r = torch.tensor([float(x) for x in ratios], dtype=torch.float32)
    aspect = 1.0 if image_hw is None else image_hw[0] / image_hw[1]
    w = torch.cat([s * r[0].sqrt(), s[0] * r[1:].sqrt()]) * aspect  # (n + m - 1,)
    h = torch.cat([s / r[0].sqrt(), s[0] / r[1:].sqrt()])
    cy = (torch.arange(H, dtype=torch.float32) + 0.5) / H
    cx = (torch.arange(W, dtype=torch.float32) + 0.5) / W
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")  # (H, W)
    ctr = torch.stack([xx, yy, xx, yy], -1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    half = torch.stack([-w, -h, w, h], -1) / 2  # (K, 4)
    return (ctr + half[None]).reshape(-1, 4)


def match_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, gt_valid: torch.Tensor | None = None,
                  iou_threshold: float = 0.5) -> torch.Tensor:
    """SSD matching, batched: each anchor takes its best ground truth if IoU >= threshold, and every
    ground truth takes its best anchor (forced, as torchvision's ``SSDMatcher``; if two ground truths
    pick the same anchor the later one wins).

    Args:
        anchors: (A, 4) xyxy.
        gt_boxes: (B, G, 4) xyxy, padded.
        gt_valid: (B, G) bool, False for padding (default: all valid).
        iou_threshold: the SSD threshold (0.5).

    Returns:
        (B, A) int64 index of the matched ground truth, -1 for background.
    """
    _check_boxes(anchors, "anchors")
    _check_boxes(gt_boxes, "gt_boxes")
    if gt_boxes.dim() != 3:
        raise DanluError(f"gt_boxes must be (B, G, 4), got {tuple(gt_boxes.shape)}")
    B, G = gt_boxes.shape[:2]
    A = anchors.shape[0]
    valid = torch.ones(B, G, dtype=torch.bool, device=gt_boxes.device) if gt_valid is None else gt_valid.bool()
    matches = torch.full((B, A), -1, dtype=torch.int64, device=gt_boxes.device)
    if G == 0 or A == 0:
        return matches
    iou = box_iou(gt_boxes, anchors.expand(B, A, 4))  # (B, G, A)
    iou = iou.masked_fill(~valid[:, :, None], -1.0)
    best_iou, best_gt = iou.max(dim=1)  # (B, A)
    matches = torch.where(best_iou >= iou_threshold, best_gt, matches)
    best_anchor = iou.argmax(dim=2)  # (B, G)
    gt_idx = torch.arange(G, device=gt_boxes.device).expand(B, G)
    forced = torch.full((B, A), -1, dtype=torch.int64, device=gt_boxes.device)
    forced.scatter_reduce_(1, best_anchor, torch.where(valid, gt_idx, -1), reduce="amax")  # later gt wins
    return torch.where(forced >= 0, forced, matches)


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor, variances: tuple[float, float] = (0.1, 0.2)) -> torch.Tensor:
    """SSD offsets of xyxy ``boxes`` w.r.t. xyxy ``anchors`` (broadcastable (..., 4)):
    ``((cx - cx_a) / w_a / v0, (cy - cy_a) / h_a / v0, log(w / w_a) / v1, log(h / h_a) / v1)``."""
    _check_boxes(boxes)
    _check_boxes(anchors, "anchors")
    b = box_convert(boxes, "xyxy", "cxcywh")
    a = box_convert(anchors, "xyxy", "cxcywh")
    v0, v1 = variances
    return torch.cat([(b[..., :2] - a[..., :2]) / a[..., 2:] / v0, torch.log(b[..., 2:] / a[..., 2:]) / v1], -1)


def decode_boxes(offsets: torch.Tensor, anchors: torch.Tensor, variances: tuple[float, float] = (0.1, 0.2),
                 clip: float = math.log(1000.0 / 16)) -> torch.Tensor:
    """Inverse of :func:`encode_boxes`: (..., 4) offsets + xyxy anchors -> xyxy boxes.

    The log-size offsets are clamped at ``clip`` (torchvision's ``bbox_xform_clip``) after scaling
    by the variance, so a wild prediction cannot overflow ``exp``.
    """
    _check_boxes(offsets, "offsets")
    a = box_convert(anchors, "xyxy", "cxcywh")
    v0, v1 = variances
    ctr = offsets[..., :2] * v0 * a[..., 2:] + a[..., :2]
    wh = torch.exp((offsets[..., 2:] * v1).clamp(max=clip)) * a[..., 2:]
    return box_convert(torch.cat([ctr, wh], -1), "cxcywh", "xyxy")
