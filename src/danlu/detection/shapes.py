"""Synthetic shapes: images of circles, squares, triangles and stars with boxes and masks.

An embedded, deterministic stand-in for COCO/VOC at CPU scale (the toy of d2l's banana
detection chapter and of torchvision's detection tutorials, with four classes, occlusion and
empty images). Each image has a noisy background colour and 0..``max_objects`` shapes of random
class, size, colour and position, drawn in order (a later shape covers an earlier one). Two shapes
may overlap, but a new shape is rejected (and redrawn) when its box IoU with an earlier one exceeds
``max_overlap`` or when it would hide more than half of an earlier shape's visible pixels, so every
object stays visible enough to be labelled.

Per object: the class (1 circle, 2 square, 3 triangle, 4 star; 0 is background), the box
``(x1, y1, x2, y2)`` in pixels around the whole shape (continuous coordinates, pixel ``j`` spans
``[j, j + 1)``), and the visible instance mask; per image: the semantic mask (class per pixel).

Shapes are rasterised by pixel-centre tests (inside a circle, or inside a polygon by the even-odd
rule), with numpy only. Everything depends on ``seed`` alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from danlu.errors import DanluError

#: class id -> name (id 0 is the background of the semantic masks)
CLASSES: dict[int, str] = {1: "circle", 2: "square", 3: "triangle", 4: "star"}


@dataclass
class ShapesData:
    """A generated set of N images.

    Attributes:
        images: (N, 3, H, W) uint8 RGB.
        labels: N arrays (K_i,) int64 class ids in 1..4.
        boxes: N arrays (K_i, 4) float32 xyxy pixels.
        instance_masks: N arrays (K_i, H, W) bool, the visible part of each object.
        semantic: (N, H, W) uint8 class per pixel (0 background).
    """

    images: np.ndarray
    labels: list[np.ndarray]
    boxes: list[np.ndarray]
    instance_masks: list[np.ndarray]
    semantic: np.ndarray

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W)."""
        return int(self.images.shape[2]), int(self.images.shape[3])


def _polygon_mask(xs: np.ndarray, ys: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd rule: which pixel centres (xs, ys) (H, W) lie inside ``poly`` (V, 2)."""
    inside = np.zeros(xs.shape, dtype=bool)
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for a, b, c, d in zip(x0, y0, x1, y1, strict=True):
        crosses = (b > ys) != (d > ys)
        with np.errstate(divide="ignore", invalid="ignore"):
            xcross = a + (ys - b) * (c - a) / (d - b)
        inside ^= crosses & (xs < xcross)
    return inside


def _shape_mask(cls: int, cx: float, cy: float, r: float, angle: float, xs: np.ndarray,
                ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The mask (H, W) and the box (4,) of one shape of "radius" ``r`` centred at (cx, cy)."""
    if cls == 1:
        mask = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
        return mask, np.array([cx - r, cy - r, cx + r, cy + r])
    if cls == 2:
        poly = np.array([[-r, -r], [r, -r], [r, r], [-r, r]])
    elif cls == 3:
        t = angle + np.array([0.0, 2.0, 4.0]) * np.pi / 3
        poly = r * np.stack([np.cos(t), np.sin(t)], 1)
    else:
        t = angle + np.arange(10) * np.pi / 5
        rad = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
        poly = np.stack([rad * np.cos(t), rad * np.sin(t)], 1)
    poly = poly + np.array([cx, cy])
    box = np.concatenate([poly.min(0), poly.max(0)])
    return _polygon_mask(xs, ys, poly), box


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def make_shapes(n: int, *, image_size: int = 64, max_objects: int = 4, min_size: float = 0.15,
                max_size: float = 0.45, max_overlap: float = 0.3, empty_frac: float = 0.05,
                seed: int = 0) -> ShapesData:
    """Generate ``n`` shapes images (see the module docstring).

    Args:
        n: number of images.
        image_size: side of the square images in pixels (>= 16).
        max_objects: at most this many objects per image (the count is uniform in 1..max_objects).
        min_size, max_size: shape diameter as a fraction of the image side.
        max_overlap: largest box IoU allowed between two objects of one image.
        empty_frac: fraction of images without any object (pure background).
        seed: the only source of randomness.

    Returns:
        :class:`ShapesData`.
    """
    if n < 1 or image_size < 16 or max_objects < 1:
        raise DanluError(f"make_shapes needs n >= 1, image_size >= 16 and max_objects >= 1, got n={n}, "
                         f"image_size={image_size}, max_objects={max_objects}")
    if not 0 < min_size <= max_size <= 1 or not 0 <= empty_frac <= 1 or not 0 <= max_overlap <= 1:
        raise DanluError(f"make_shapes needs 0 < min_size <= max_size <= 1 and empty_frac, max_overlap in [0, 1], "
                         f"got {min_size}, {max_size}, {empty_frac}, {max_overlap}")
    rng = np.random.default_rng(seed)
    S = image_size
    ys, xs = np.mgrid[0:S, 0:S].astype(np.float64) + 0.5  # pixel centres (H, W)
    images = np.empty((n, 3, S, S), dtype=np.uint8)
    semantic = np.zeros((n, S, S), dtype=np.uint8)
    labels, boxes, masks = [], [], []
    for i in range(n):
        bg = rng.uniform(0, 110, size=3)
        img = bg[:, None, None] + rng.normal(0, 12, size=(3, S, S))  # (3, H, W)
        k = 0 if rng.random() < empty_frac else int(rng.integers(1, max_objects + 1))
        objs: list[tuple[int, np.ndarray, np.ndarray]] = []
        for _ in range(k):
            for _try in range(20):
                cls = int(rng.integers(1, 5))
                r = rng.uniform(min_size, max_size) * S / 2
                cx, cy = rng.uniform(r, S - r, size=2)
                mask, box = _shape_mask(cls, cx, cy, r, float(rng.uniform(0, 2 * np.pi)), xs, ys)
                if mask.sum() >= 4 and all(_iou(box, b) <= max_overlap and (m & mask).sum() <= m.sum() / 2
                                           for _, b, m in objs):
                    break
            else:
                continue
            colour = rng.uniform(130, 255, size=3) * rng.permutation([1.0, rng.uniform(0.3, 1), rng.uniform(0, 1)])
            colour = np.maximum(colour, bg + 60)  # at least a little contrast in every channel
            img[:, mask] = colour[:, None] + rng.normal(0, 6, size=(3, int(mask.sum())))
            for _, _, m in objs:
                m &= ~mask  # the new shape hides what it covers
            semantic[i][mask] = cls
            objs.append((cls, np.clip(box, 0, S), mask.copy()))
        images[i] = np.clip(img, 0, 255).astype(np.uint8)
        labels.append(np.array([o[0] for o in objs], dtype=np.int64))
        boxes.append(np.array([o[1] for o in objs], dtype=np.float32).reshape(-1, 4))
        masks.append(np.stack([o[2] for o in objs]) if objs else np.zeros((0, S, S), dtype=bool))
    return ShapesData(images=images, labels=labels, boxes=boxes, instance_masks=masks, semantic=semantic)
