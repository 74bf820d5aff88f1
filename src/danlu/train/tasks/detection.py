"""Detection: an SSD (danlu.detection) trained on boxes, evaluated with COCO AP (danlu.metrics.detection).

Batches are ``(images (B, 3, H, W) uint8 or float, targets (B, G, 6))`` with target rows
``(class 1..C or -1 padding, x1, y1, x2, y2, area)`` in pixels (:mod:`danlu.detection.targets`);
``data.name: shapes`` gives them (its third tensor, the semantic masks, is dropped by
:meth:`Detection.prepare`). The loss is :func:`danlu.detection.loss.ssd_loss` (hard negative
mining or focal, ``task.args.cls_loss``). Evaluation: the mean loss and the COCO stats of
:meth:`SSD.detect` on the split (``ap`` = AP@[.5:.95], ``ap50``, ``ap75``, ``ar100``); the stats of
one process's share of the split (exact for one process; under DDP each rank scores its own share
and the mean over ranks is reported).

Bad input: boxes reaching outside the image are clipped to it, boxes of zero area after clipping
dropped, both counted in one warning (:func:`danlu.detection.targets.sanitize_targets`); a class id outside 1..C (C = ``task.args.num_classes``, or the data's) raises naming the
split, image and object before training; images without objects train as all background.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from danlu.errors import DanluError
from danlu.train.schema import ConfigError, doc_field
from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, Optimization, StepOutput, Task

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig

STATS = ("ap", "ap50", "ap75", "ar100")
_COCO_KEYS = {"ap": "AP", "ap50": "AP50", "ap75": "AP75", "ar100": "AR100"}


@dataclass
class DetectionArgs:
    """Fields of the detection task (``task.args``)."""

    num_classes: int = doc_field(0, "foreground classes, labels 1..num_classes (0: the dataset's); a target "
                                    "class outside them is an error naming the image")
    widths: list[int] = doc_field([16, 32, 32, 64, 64, 64], "backbone stage widths (stage i at 1/2**i resolution); "
                                                             "the last len(sizes) stages are the SSD levels")
    sizes: list[list[float]] = doc_field([list(s) for s in ((0.12, 0.17), (0.22, 0.3), (0.37, 0.46), (0.55, 0.7))],
                                         "anchor sizes per level, fractions of the image side")
    ratios: list[float] = doc_field([1.0, 2.0, 0.5], "anchor aspect ratios (width / height)")
    cls_loss: str = doc_field("hard_negative", "hard_negative (SSD, 3:1 softmax CE) or focal (RetinaNet sigmoid)")
    neg_ratio: float = doc_field(3.0, "hard_negative: negatives per positive")
    alpha: float = doc_field(0.25, "focal: weight of positives")
    gamma: float = doc_field(2.0, "focal: focusing exponent")
    iou_threshold: float = doc_field(0.5, "anchor-ground truth IoU that makes an anchor positive")
    score_threshold: float = doc_field(0.05, "detections below this class probability are dropped")
    nms_iou: float = doc_field(0.45, "per-class NMS IoU threshold")
    max_detections: int = doc_field(100, "detections kept per image")


@TASKS.register("detection")
class Detection(Task):
    """SSD detection (see the module docstring). Config sections read: data, optim, schedule."""

    name: ClassVar[str] = "detection"
    Args: ClassVar[type] = DetectionArgs
    reads: ClassVar[tuple[str, ...]] = ("data", "optim", "schedule")
    default_monitor: ClassVar[str] = "ap50"

    def __init__(self, args: DetectionArgs | None = None) -> None:
        super().__init__(args)
        self.check_args(self.args)
        self.num_classes = 0
        self.classes: dict[int, str] = {}
        self.image_hw: tuple[int, int] = (0, 0)

    @classmethod
    def check_args(cls, args: DetectionArgs, where: str = "task.args") -> None:
        from danlu.detection.loss import CLS_LOSSES

        if args.cls_loss not in CLS_LOSSES:
            raise ConfigError(f"{where}.cls_loss: unknown {args.cls_loss!r}; valid: {', '.join(CLS_LOSSES.names())}")
        if not args.sizes or any(not s or min(s) <= 0 for s in args.sizes) or not args.ratios or min(args.ratios) <= 0:
            raise ConfigError(f"{where}: sizes and ratios must be non-empty and positive, got {args.sizes}, {args.ratios}")
        if len(args.sizes) > len(args.widths):
            raise ConfigError(f"{where}: {len(args.sizes)} anchor levels need at least as many backbone widths, "
                              f"got {len(args.widths)}")
        for key in ("iou_threshold", "score_threshold", "nms_iou"):
            if not 0 <= getattr(args, key) <= 1:
                raise ConfigError(f"{where}.{key} must be in [0, 1], got {getattr(args, key)}")
        if args.num_classes < 0:
            raise ConfigError(f"{where}.num_classes must be >= 0 (0: the dataset's), got {args.num_classes}")
        if args.max_detections < 1 or args.neg_ratio <= 0:
            raise ConfigError(f"{where}: max_detections and neg_ratio must be positive")

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        return ["loss", *STATS]

    # -------------------------------------------------------------- building
    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        from danlu.detection.targets import check_classes

        self.describe_data(splits)
        for name in ("train", "val", "test"):
            ds = getattr(splits, name)
            if isinstance(ds, TensorDataset) and len(ds.tensors) >= 2:
                check_classes(ds.tensors[1], self.num_classes, f"{splits.name} {name} split")
        return self.make_model(self.num_classes, splits.input_shape[-1])

    def describe_data(self, splits: Splits) -> None:
        """Classes (``task.args.num_classes`` or the data's), names and image size (the COCO export needs them)."""
        self.num_classes = self.args.num_classes or splits.num_classes
        names = splits.info.get("classes") or {}
        self.classes = {c: names.get(c, f"class{c}") for c in range(1, self.num_classes + 1)}
        self.image_hw = tuple(splits.input_shape[-2:])

    def make_model(self, num_classes: int, image_size: int) -> nn.Module:
        """The SSD for ``num_classes`` classes on square images of ``image_size`` pixels (seed first)."""
        from danlu.detection.loss import CLS_LOSSES
        from danlu.detection.ssd import SSD

        a = self.args
        self.num_classes = num_classes
        return SSD(num_classes=num_classes, image_size=image_size, widths=a.widths, sizes=a.sizes, ratios=a.ratios,
                   scores=CLS_LOSSES.get(a.cls_loss).scores)

    def build_optimizers(self, cfg: TrainConfig, model: nn.Module, total_steps: int) -> dict[str, Optimization]:
        from danlu.train.build import build_optimization

        optimizer, schedule = build_optimization(cfg, model, total_steps)
        return {"main": Optimization(optimizer, schedule)}

    # -------------------------------------------------------------- data
    def prepare(self, ds: Dataset) -> Dataset:
        """``(images, targets[, masks])`` -> ``(images, targets)``; class ids checked against the data's classes."""
        from danlu.detection.targets import check_classes, sanitize_targets, unpad

        if not isinstance(ds, TensorDataset) or len(ds.tensors) < 2:
            raise DanluError("task detection needs a TensorDataset of (images (N, 3, H, W), targets (N, G, 6)[, ...])")
        x, t = ds.tensors[:2]
        unpad(t)  # shape check
        if self.num_classes:
            check_classes(t, self.num_classes, "detection targets")
        t, report = sanitize_targets(t, tuple(x.shape[-2:]), "detection targets")
        if report.clipped or report.dropped:
            warnings.warn(f"task detection: {report}", stacklevel=2)
        return TensorDataset(x, t)

    # -------------------------------------------------------------- steps
    def stat_names(self) -> list[str]:
        return ["loss", "cls_loss", "box_loss"]

    def loss(self, model: nn.Module, x: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(loss, cls, box)`` of one batch (targets in pixels, normalised here)."""
        from danlu.detection.loss import ssd_loss
        from danlu.detection.targets import unpad

        labels, boxes, valid = unpad(targets)
        H, W = x.shape[-2:]
        boxes = boxes / boxes.new_tensor([W, H, W, H])
        logits, offsets = model(x)
        anchors = _unwrap(model).anchors
        a = self.args
        return ssd_loss(logits.float(), offsets.float(), anchors, labels, boxes, valid, cls_loss=a.cls_loss,
                        iou_threshold=a.iou_threshold, neg_ratio=a.neg_ratio, alpha=a.alpha, gamma=a.gamma)

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, targets = batch  # (B, 3, H, W), (B, G, 6)
        loss, cls, box = self.loss(model, x, targets)
        one = torch.ones((), device=loss.device)
        return StepOutput(loss, torch.stack([loss.detach(), one, cls, one, box, one]))

    # -------------------------------------------------------------- evaluation and use
    def detect(self, model: nn.Module, x: Tensor) -> list[dict[str, Tensor]]:
        a = self.args
        return _unwrap(model).detect(x, score_threshold=a.score_threshold, nms_iou=a.nms_iou,
                                     max_detections=a.max_detections)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Mean loss per image and COCO AP, AP50, AP75, AR100 of the detections."""
        from danlu.detection.evaluate import coco_stats

        was_training = model.training
        model.eval()
        sums = torch.zeros(2 + len(STATS), device=ctx.device, dtype=torch.float64)
        dets, targets = [], []
        for x, t in loader:
            x, t = x.to(ctx.device), t.to(ctx.device)
            with ctx.autocast():
                loss, _, _ = self.loss(model, x, t)
            sums[0] += float(loss) * len(x)
            sums[1] += len(x)
            dets += [{k: v.cpu() for k, v in d.items()} for d in self.detect(model, x)]
            targets.append(t.cpu())
        model.train(was_training)
        if targets:
            classes = self.classes or {c: f"class{c}" for c in range(1, self.num_classes + 1)}
            hw = self.image_hw if self.image_hw != (0, 0) else tuple(x.shape[-2:])
            stats = coco_stats(torch.cat(targets), dets, hw, classes)
            for i, k in enumerate(STATS):
                sums[2 + i] = max(stats[_COCO_KEYS[k]], 0.0)
        ranks = torch.tensor([1.0 if targets else 0.0], device=ctx.device, dtype=torch.float64)
        ctx.all_reduce_sum(sums)
        ctx.all_reduce_sum(ranks)
        out = {"loss": float(sums[0] / sums[1].clamp(min=1))}
        out.update({k: float(sums[2 + i] / ranks.clamp(min=1)) for i, k in enumerate(STATS)})
        return out

    def predict(self, model: nn.Module, batch: Any) -> list[dict[str, Tensor]]:
        """Detections per image of the batch's images (``boxes`` xyxy pixels, ``scores``, ``labels``)."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.detect(model, x)


def _unwrap(m: nn.Module) -> nn.Module:
    return m.module if hasattr(m, "module") and isinstance(m.module, nn.Module) else m


__all__ = ["Detection", "DetectionArgs"]
