"""A map-style Dataset of shapes with ``torchvision.tv_tensors``, so transforms v2 move boxes and masks.

Each item is ``(image, target)``: ``image`` a ``tv_tensors.Image`` (3, H, W) uint8 and ``target`` a dict
with ``boxes`` (``tv_tensors.BoundingBoxes``, XYXY, ``canvas_size=(H, W)``), ``labels`` (K,) int64,
``masks`` (``tv_tensors.Mask`` (K, H, W) bool, visible instance masks), ``semantic``
(``tv_tensors.Mask`` (H, W) uint8) and ``image_id`` (1-based). A ``transforms.v2`` pipeline given
as ``transforms`` is applied to ``(image, target)`` together, e.g.::

    from torchvision.transforms import v2
    ds = ShapesDataset(make_shapes(100), transforms=v2.Compose([v2.RandomHorizontalFlip(1.0),
                                                                 v2.SanitizeBoundingBoxes()]))

Boxes a transform pushes out of the image are clipped or dropped by :func:`clean_target`
(``sanitize=True``, the default), which counts them in :attr:`ShapesDataset.report`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import Dataset

from danlu.detection.shapes import ShapesData
from danlu.detection.targets import BoxReport, sanitize_boxes


def clean_target(target: dict[str, Any], image_hw: tuple[int, int], where: str) -> tuple[dict[str, Any], BoxReport]:
    """Clip the target's boxes to the image, drop zero-area ones (with their labels and masks)."""
    from torchvision import tv_tensors

    boxes, labels, keep, report = sanitize_boxes(target["boxes"].as_subclass(torch.Tensor), target["labels"],
                                                 image_hw, where=where)
    out = dict(target)
    out["boxes"] = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=image_hw)
    out["labels"] = labels
    if "masks" in target:
        out["masks"] = tv_tensors.Mask(target["masks"][keep])
    return out, report


class ShapesDataset(Dataset):
    """Shapes images with tv_tensors targets (see the module docstring).

    Args:
        data: generated :class:`~danlu.detection.shapes.ShapesData`.
        transforms: a callable ``(image, target) -> (image, target)`` (a ``torchvision.transforms.v2`` pipeline).
        sanitize: clip boxes to the image and drop zero-area boxes after the transform, counting them.
    """

    def __init__(self, data: ShapesData, transforms: Callable[..., Any] | None = None, sanitize: bool = True) -> None:
        self.data, self.transforms, self.sanitize = data, transforms, sanitize
        self.report = BoxReport()

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[Any, dict[str, Any]]:
        from torchvision import tv_tensors

        d = self.data
        H, W = d.image_size
        image = tv_tensors.Image(torch.from_numpy(d.images[i]))
        target: dict[str, Any] = {
            "boxes": tv_tensors.BoundingBoxes(torch.from_numpy(d.boxes[i]), format="XYXY", canvas_size=(H, W)),
            "labels": torch.from_numpy(d.labels[i]),
            "masks": tv_tensors.Mask(torch.from_numpy(d.instance_masks[i])),
            "semantic": tv_tensors.Mask(torch.from_numpy(d.semantic[i])),
            "image_id": i + 1,
        }
        if self.transforms is not None:
            image, target = self.transforms(image, target)
        if self.sanitize:
            target, rep = clean_target(target, tuple(image.shape[-2:]), where=f"image {i + 1}")
            self.report.add(rep)
        return image, target


def collate(batch: list[tuple[Any, dict[str, Any]]]) -> tuple[list[Any], list[dict[str, Any]]]:
    """DataLoader ``collate_fn`` for detection: lists of images and of targets (variable object counts)."""
    return [b[0] for b in batch], [b[1] for b in batch]
