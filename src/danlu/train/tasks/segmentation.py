"""Semantic segmentation: an FCN (danlu.detection.fcn) trained with per-pixel cross entropy.

Batches are ``(images (B, 3, H, W) uint8 or float, masks (B, H, W) class per pixel)``; ``data.name:
shapes`` gives them (:meth:`Segmentation.prepare` keeps its images and semantic masks). Classes are
``num_classes + 1`` with 0 the background. Evaluation: the mean per-pixel loss and, from one
confusion matrix summed over batches and DDP ranks (:mod:`danlu.metrics.segmentation`), pixel
accuracy ``pa``, mean class accuracy ``mpa``, mean IoU ``miou`` (background included, as FCN and
mmseg report it), frequency-weighted IoU ``fwiou`` and ``mdice``.

Bad input: a mask label outside 0..C (C = ``task.args.num_classes`` or the data's; not
``ignore_index``) raises naming the split, image and label before training.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from danlu.errors import DanluError
from danlu.train.schema import ConfigError, doc_field
from danlu.train.tasks import TASKS
from danlu.train.tasks.base import Context, Optimization, StepOutput, Task

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig

STATS = {"pa": "PA", "mpa": "MPA", "miou": "MIoU", "fwiou": "FWIoU", "mdice": "mDice"}


@dataclass
class SegmentationArgs:
    """Fields of the segmentation task (``task.args``)."""

    num_classes: int = doc_field(0, "foreground classes, mask labels 1..num_classes, 0 background (0: the "
                                    "dataset's); a label outside them is an error")
    widths: list[int] = doc_field([16, 32, 32, 64], "backbone stage widths (stage i at 1/2**i resolution)")
    skips: int = doc_field(2, "finer stages fused into the coarse scores (FCN-8s style; 0: FCN-32s style)")
    ignore_index: int = doc_field(255, "mask value excluded from the loss and the metrics")


@TASKS.register("segmentation")
class Segmentation(Task):
    """FCN semantic segmentation (see the module docstring). Config sections read: data, optim, schedule."""

    name: ClassVar[str] = "segmentation"
    Args: ClassVar[type] = SegmentationArgs
    reads: ClassVar[tuple[str, ...]] = ("data", "optim", "schedule")
    default_monitor: ClassVar[str] = "miou"

    def __init__(self, args: SegmentationArgs | None = None) -> None:
        super().__init__(args)
        self.check_args(self.args)
        self.num_classes = 0  # including the background

    @classmethod
    def check_args(cls, args: SegmentationArgs, where: str = "task.args") -> None:
        if args.num_classes < 0:
            raise ConfigError(f"{where}.num_classes must be >= 0 (0: the dataset's), got {args.num_classes}")
        if len(args.widths) < 2 or min(args.widths) < 1 or not 0 <= args.skips <= len(args.widths) - 2:
            raise ConfigError(f"{where}: widths needs >= 2 positive stages and 0 <= skips <= len(widths) - 2, got "
                              f"{args.widths}, skips={args.skips}")

    @classmethod
    def monitors(cls, cfg: TrainConfig) -> list[str]:
        return ["loss", *STATS]

    def build_model(self, cfg: TrainConfig, splits: Splits) -> nn.Module:
        self.num_classes = (self.args.num_classes or splits.num_classes) + 1
        for name in ("train", "val", "test"):
            ds = getattr(splits, name)
            if isinstance(ds, TensorDataset) and ds.tensors:
                self.check_masks(ds.tensors[-1], f"{splits.name} {name} split")
        return self.make_model(self.num_classes)

    def make_model(self, num_classes: int) -> nn.Module:
        """The FCN for ``num_classes`` classes including the background (seed first)."""
        from danlu.detection.fcn import FCN

        self.num_classes = num_classes
        return FCN(num_classes=num_classes, widths=self.args.widths, skips=self.args.skips)

    def build_optimizers(self, cfg: TrainConfig, model: nn.Module, total_steps: int) -> dict[str, Optimization]:
        from danlu.train.build import build_optimization

        optimizer, schedule = build_optimization(cfg, model, total_steps)
        return {"main": Optimization(optimizer, schedule)}

    def prepare(self, ds: Dataset) -> Dataset:
        """``(images, targets, masks)`` (shapes) or ``(images, masks)`` -> ``(images, masks int64)``."""
        if not isinstance(ds, TensorDataset) or len(ds.tensors) not in (2, 3):
            raise DanluError("task segmentation needs a TensorDataset of (images (N, 3, H, W), masks (N, H, W)), "
                             "or the shapes dataset's (images, targets, masks)")
        x, m = ds.tensors[0], ds.tensors[-1]
        if m.dim() != 3 or m.shape[0] != x.shape[0] or m.shape[1:] != x.shape[2:] or m.is_floating_point():
            raise DanluError(f"task segmentation: masks must be integer (N, H, W) matching images {tuple(x.shape)}, "
                             f"got {tuple(m.shape)} {m.dtype}")
        m = m.long()
        if self.num_classes:
            self.check_masks(m, "segmentation masks")
        return TensorDataset(x, m)

    def check_masks(self, m: Tensor, where: str) -> None:
        """Raise naming the first label outside 0..C-1 that is not ``ignore_index``."""
        m = m.long()
        bad = (m != self.args.ignore_index) & ((m < 0) | (m >= self.num_classes))
        if bad.any():
            i = int(torch.nonzero(bad)[0, 0])
            raise DanluError(f"{where}: image {i} has mask label {int(m[bad][0])}, outside 0..{self.num_classes - 1} "
                             f"(and not ignore_index={self.args.ignore_index})")

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, m = batch  # (B, 3, H, W), (B, H, W)
        scores = model(x)  # (B, C, H, W)
        loss = F.cross_entropy(scores.float(), m, ignore_index=self.args.ignore_index)
        return StepOutput(loss, torch.stack([loss.detach(), torch.ones((), device=loss.device)]), scores)

    @torch.no_grad()
    def evaluate(self, model: nn.Module, loader: Iterable[Any], ctx: Context) -> dict[str, float]:
        """Mean per-pixel loss and PA, MPA, MIoU, FWIoU, mDice from the summed confusion matrix."""
        from danlu.metrics.segmentation import confusion_matrix, scores_from_confusion

        was_training = model.training
        model.eval()
        C = self.num_classes
        loss_sums = torch.zeros(2, device=ctx.device, dtype=torch.float64)
        cm = torch.zeros(C, C, device=ctx.device, dtype=torch.int64)
        for x, m in loader:
            x, m = x.to(ctx.device), m.to(ctx.device)
            with ctx.autocast():
                scores = model(x)
            n = int((m != self.args.ignore_index).sum())
            loss_sums += torch.tensor([float(F.cross_entropy(scores.float(), m, ignore_index=self.args.ignore_index,
                                                             reduction="sum")), n], device=ctx.device,
                                      dtype=torch.float64)
            cm += confusion_matrix(scores.argmax(1), m, C, ignore_index=self.args.ignore_index)
        model.train(was_training)
        ctx.all_reduce_sum(loss_sums)
        ctx.all_reduce_sum(cm)
        res = scores_from_confusion(cm)
        out = {"loss": float(loss_sums[0] / loss_sums[1].clamp(min=1))}
        out.update({k: res[v] for k, v in STATS.items()})
        return out

    def predict(self, model: nn.Module, batch: Any) -> Tensor:
        """Predicted class per pixel (B, H, W) int64 of the batch's images."""
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        return model(x).argmax(1)


__all__ = ["Segmentation", "SegmentationArgs"]
