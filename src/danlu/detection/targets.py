"""Box targets: cleaning user boxes (clip, drop, count) and padding them into one tensor per split.

Detection targets of a batch are one padded tensor ``(B, G, 6)`` with rows ``(class, x1, y1, x2, y2,
area)``: class ids 1..C, ``-1`` for padding rows; xyxy boxes in pixels; ``area`` the object's
area in pixels (its mask area when known, else the box's), which COCO's small/medium/large ranges
use. One tensor keeps the data a ``TensorDataset``: batches are cut by indexing, no collate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor

from danlu.errors import DanluError

PAD = -1  #: class id of a padding row
COLS = 6  #: (class, x1, y1, x2, y2, area)


@dataclass
class BoxReport:
    """What :func:`sanitize_boxes` changed: boxes clipped to the image and boxes dropped (zero area)."""

    clipped: int = 0
    dropped: int = 0
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.clipped} box(es) clipped to the image, {self.dropped} dropped (zero area after clipping)"
        return text + (f"; e.g. {', '.join(self.examples[:3])}" if self.examples else "")

    def add(self, other: BoxReport) -> None:
        self.clipped += other.clipped
        self.dropped += other.dropped
        self.examples.extend(other.examples[: max(0, 3 - len(self.examples))])


def sanitize_boxes(boxes: Tensor, labels: Tensor, image_hw: tuple[int, int], *,
                   where: str = "boxes") -> tuple[Tensor, Tensor, Tensor, BoxReport]:
    """Clip xyxy ``boxes`` (K, 4) to the image and drop those with zero area after clipping.

    Args:
        boxes: (K, 4) xyxy pixels.
        labels: (K,) class ids.
        image_hw: (H, W) of the image.
        where: how error messages and the report name the boxes (e.g. ``"image 7"``).

    Returns:
        ``(boxes (K', 4), labels (K',), keep (K,) bool, report)``.

    Raises:
        DanluError: a non-finite coordinate or a box with x2 < x1 or y2 < y1 (not a box at all).
    """
    boxes = torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    labels = torch.as_tensor(labels, dtype=torch.int64).reshape(-1)
    if len(boxes) != len(labels):
        raise DanluError(f"{where}: {len(boxes)} boxes but {len(labels)} labels")
    if not torch.isfinite(boxes).all():
        raise DanluError(f"{where}: a box has a non-finite coordinate: {boxes[~torch.isfinite(boxes).all(1)][0].tolist()}")
    bad = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bad.any():
        raise DanluError(f"{where}: box {boxes[bad][0].tolist()} has x2 < x1 or y2 < y1 (boxes are xyxy)")
    H, W = image_hw
    limit = torch.tensor([W, H, W, H], dtype=torch.float32)
    clipped = torch.minimum(boxes.clamp(min=0), limit)
    changed = (clipped != boxes).any(1)
    keep = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    report = BoxReport(clipped=int((changed & keep).sum()), dropped=int((~keep).sum()))
    for i in torch.nonzero(changed | ~keep).flatten()[:3].tolist():
        report.examples.append(f"{where} box {[round(v, 1) for v in boxes[i].tolist()]}"
                               f" -> {'dropped' if not keep[i] else [round(v, 1) for v in clipped[i].tolist()]}")
    return clipped[keep], labels[keep], keep, report


def pad_targets(labels: list[Tensor], boxes: list[Tensor], areas: list[Tensor] | None = None,
                max_objects: int | None = None) -> Tensor:
    """Per-image labels (K_i,), boxes (K_i, 4) and areas (K_i,) -> one (N, G, 6) tensor padded with class -1.

    ``G`` is ``max_objects`` or the largest K_i (at least 1). Areas default to the box areas.
    """
    if len(labels) != len(boxes):
        raise DanluError(f"pad_targets: {len(labels)} label lists but {len(boxes)} box lists")
    G = max_objects if max_objects is not None else max([len(x) for x in labels] + [1])
    out = torch.zeros(len(labels), G, COLS)
    out[:, :, 0] = PAD
    for i, (lab, box) in enumerate(zip(labels, boxes, strict=True)):
        k = len(lab)
        if k > G:
            raise DanluError(f"image {i} has {k} objects, more than max_objects={G}")
        box = torch.as_tensor(box, dtype=torch.float32).reshape(-1, 4)
        area = (areas[i] if areas is not None else (box[:, 2] - box[:, 0]) * (box[:, 3] - box[:, 1]))
        out[i, :k, 0] = torch.as_tensor(lab, dtype=torch.float32)
        out[i, :k, 1:5] = box
        out[i, :k, 5] = torch.as_tensor(area, dtype=torch.float32)
    return out


def sanitize_targets(targets: Tensor, image_hw: tuple[int, int], where: str = "targets") -> tuple[Tensor, BoxReport]:
    """Padded targets (N, G, 6) with boxes clipped to the image and zero-area rows turned into padding.

    Returns the cleaned copy and a :class:`BoxReport` counting what changed (examples name the image).
    Non-boxes (x2 < x1, non-finite) raise as in :func:`sanitize_boxes`.
    """
    labels, boxes, valid = unpad(targets)
    out, report = targets.clone(), BoxReport()
    H, W = image_hw
    limit = boxes.new_tensor([W, H, W, H])
    clipped = torch.minimum(boxes.clamp(min=0), limit)
    dirty = valid & (clipped != boxes).any(-1)
    dirty |= valid & ~((clipped[..., 2] > clipped[..., 0]) & (clipped[..., 3] > clipped[..., 1]))
    changed = dirty.any(1)
    for i in torch.nonzero(changed).flatten().tolist():
        keep_rows = torch.nonzero(valid[i]).flatten()
        b, lab, keep, rep = sanitize_boxes(boxes[i, keep_rows], labels[i, keep_rows], image_hw, where=f"{where} image {i}")
        report.add(rep)
        row = out[i]
        kept = row[keep_rows[keep]].clone()
        kept[:, 1:5] = b
        row[:, 0], row[:, 1:] = PAD, 0.0
        row[: len(kept)] = kept
    return out, report


def unpad(targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(B, G, 6) padded targets -> labels (B, G) int64, boxes (B, G, 4), valid (B, G) bool."""
    if targets.dim() != 3 or targets.shape[-1] != COLS:
        raise DanluError(f"detection targets must be (B, G, {COLS}) rows (class, x1, y1, x2, y2, area), "
                         f"got {tuple(targets.shape)}")
    labels = targets[..., 0].long()
    return labels, targets[..., 1:5], labels != PAD


def check_classes(targets: Tensor, num_classes: int, where: str = "targets") -> None:
    """Raise naming the first class id outside 1..num_classes (padding -1 aside)."""
    labels, _, valid = unpad(targets)
    bad = valid & ((labels < 1) | (labels > num_classes))
    if bad.any():
        b, g = (int(v) for v in torch.nonzero(bad)[0])
        raise DanluError(f"{where}: image {b} object {g} has class id {int(labels[b, g])}, outside 1..{num_classes} "
                         f"(the model's num_classes={num_classes}; 0 is background)")
