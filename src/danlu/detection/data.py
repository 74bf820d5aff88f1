"""The ``shapes`` dataset for ``danlu train``: images, padded box targets and semantic masks.

``load_dataset("shapes")`` gives :class:`~danlu.data.Splits` whose splits are
``TensorDataset(images (N, 3, H, W) uint8, targets (N, G, 6) float32, semantic (N, H, W) uint8)``
(targets: :mod:`danlu.detection.targets`). The detection task keeps (images, targets), the
segmentation task (images, semantic). The images are generated from ``data_seed`` (default 0, the
same images whatever the training seed) and split 70/15/15 by the run's ``seed``.
``splits.info`` holds the class names and the image size, which the COCO export needs.
"""

from __future__ import annotations

import torch
from torch.utils.data import TensorDataset

from danlu.data.splits import DATASETS, Splits, split_indices
from danlu.detection.shapes import CLASSES, ShapesData, make_shapes
from danlu.detection.targets import pad_targets


def shapes_tensors(data: ShapesData, max_objects: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(images uint8 (N, 3, H, W), targets (N, G, 6), semantic uint8 (N, H, W)) of generated shapes."""
    areas = [torch.from_numpy(m.sum((1, 2))).float() for m in data.instance_masks]
    targets = pad_targets([torch.from_numpy(x) for x in data.labels], [torch.from_numpy(b) for b in data.boxes],
                          areas, max_objects=max_objects)
    return torch.from_numpy(data.images), targets, torch.from_numpy(data.semantic)


@DATASETS.register("shapes")
def shapes(*, seed: int = 0, n: int = 1500, image_size: int = 64, max_objects: int = 4, min_size: float = 0.15,
           max_size: float = 0.45, empty_frac: float = 0.05, data_seed: int = 0) -> Splits:
    """Synthetic shapes (circle, square, triangle, star) with boxes and masks; see the module docstring."""
    data = make_shapes(n, image_size=image_size, max_objects=max_objects, min_size=min_size, max_size=max_size,
                       empty_frac=empty_frac, seed=data_seed)
    x, t, m = shapes_tensors(data, max_objects)
    tr, va, te = split_indices(n, (0.7, 0.15, 0.15), seed=seed)
    parts = [TensorDataset(x[i], t[i], m[i]) for i in (tr, va, te)]
    return Splits("shapes", *parts, num_classes=len(CLASSES), input_shape=tuple(x.shape[1:]),
                  info={"classes": dict(CLASSES), "image_size": (image_size, image_size), "data_seed": data_seed,
                        "generator": "danlu.detection.shapes.make_shapes"})
