"""Semantic-segmentation metrics from a streaming confusion matrix: PA, MPA, IoU, MIoU, FWIoU, Dice.

References: Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation"
(arXiv:1411.4038), section 5, defines pixel accuracy, mean accuracy, mean IU and frequency-weighted
IU; Dice is the F1 score per class. The conventions follow mmsegmentation's ``IoUMetric``.

With ``n_ij`` the number of pixels of true class i predicted as j (rows = target, columns =
prediction), ``t_i = sum_j n_ij`` and ``p_j = sum_i n_ij``:

- PA = sum_i n_ii / sum_i t_i;  acc_i = n_ii / t_i;  MPA = mean_i acc_i
- IoU_i = n_ii / (t_i + p_i - n_ii);  MIoU = mean_i IoU_i;  FWIoU = sum_i (t_i / sum t) IoU_i
- Dice_i = 2 n_ii / (t_i + p_i);  mDice = mean_i Dice_i

**Absent classes.** A ratio whose denominator is 0 is NaN: ``acc_i`` for a class absent from the
target, ``IoU_i``/``Dice_i`` for a class absent from both target and prediction (a class that is
predicted but absent from the target has IoU 0: those are false positives). NaN entries are
excluded from the means (``nanmean``), which is mmseg's convention and what torchmetrics' macro
average does. ``absent=x`` selects the other convention: NaN entries become ``x`` (usually 0 or 1)
and count in the means. Pixels whose target is ``ignore_index`` are dropped; if ``ignore_index`` is
itself a class id, that class is reported as NaN (with either convention) and never averaged.

One code path: :func:`confusion_matrix` (sufficient statistics, via ``torch.bincount``) and
:func:`scores_from_confusion` (the numbers); :func:`segmentation_metrics` chains them, and
:class:`SegmentationMetric` accumulates the matrix across batches and sums it across DDP ranks
(``torch.distributed.all_reduce``) when a process group is initialised.
"""

from __future__ import annotations

import torch

from danlu.errors import DanluError


def confusion_matrix(pred: torch.Tensor, target: torch.Tensor, num_classes: int,
                     ignore_index: int | None = None) -> torch.Tensor:
    """(C, C) int64 confusion matrix, rows = target class, columns = predicted class.

    Args:
        pred: (N, ...) integer labels, or (N, C, ...) scores/logits (argmax over dim 1).
        target: (N, ...) integer labels in [0, C) or ``ignore_index``.
        num_classes: C.
        ignore_index: target value whose pixels are dropped (e.g. 255).
    """
    if not isinstance(num_classes, int) or num_classes < 1:
        raise DanluError(f"num_classes must be a positive int, got {num_classes!r}")
    if pred.is_floating_point() and pred.dim() == target.dim() + 1:
        if pred.shape[1] != num_classes:
            raise DanluError(f"pred scores have {pred.shape[1]} channels in dim 1, expected num_classes={num_classes}")
        pred = pred.argmax(1)
    if pred.shape != target.shape:
        raise DanluError(f"pred shape {tuple(pred.shape)} and target shape {tuple(target.shape)} differ "
                         f"(pred may also be (N, C, ...) scores)")
    if pred.is_floating_point() or target.is_floating_point():
        raise DanluError("pred and target labels must be integer tensors (or pred float scores of shape (N, C, ...))")
    pred, target = pred.reshape(-1).long(), target.reshape(-1).long()  # (P,)
    if ignore_index is not None:
        keep = target != ignore_index
        pred, target = pred[keep], target[keep]
    for name, t in (("target", target), ("pred", pred)):
        bad = (t < 0) | (t >= num_classes)
        if bool(bad.any()):
            v = int(t[bad][0])
            hint = f" or ignore_index={ignore_index}" if name == "target" else ""
            raise DanluError(f"{name} has label {v}; expected 0..{num_classes - 1}{hint}")
    cm = torch.bincount(target * num_classes + pred, minlength=num_classes * num_classes)  # (C*C,)
    return cm.reshape(num_classes, num_classes)


def _div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    return torch.where(den > 0, num / den.clamp_min(1e-300), torch.full_like(num, float("nan")))


def _mean(x: torch.Tensor) -> float:
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else float("nan")


def scores_from_confusion(cm: torch.Tensor, *, absent: float | None = None,
                          ignore_index: int | None = None) -> dict:
    """All metrics from a (C, C) confusion matrix (rows = target).

    Args:
        cm: (C, C) counts.
        absent: None (default) -> undefined per-class values are NaN and excluded from the means;
            a number -> they take that value and count in the means.
        ignore_index: if a class id, that class is NaN and excluded (with either convention).

    Returns:
        dict with floats ``PA``, ``MPA``, ``MIoU``, ``FWIoU``, ``mDice`` and per-class lists
        ``acc``, ``IoU``, ``Dice`` (length C), plus ``total`` pixels counted.
    """
    cm = cm.to(torch.float64)
    C = cm.shape[0]
    diag = torch.diagonal(cm)  # (C,)
    t, p = cm.sum(1), cm.sum(0)  # (C,) target and prediction counts
    total = t.sum()
    acc, iou, dice = _div(diag, t), _div(diag, t + p - diag), _div(2 * diag, t + p)
    if absent is not None:
        acc, iou, dice = (torch.nan_to_num(x, nan=float(absent)) for x in (acc, iou, dice))
    if ignore_index is not None and 0 <= ignore_index < C:
        for x in (acc, iou, dice):
            x[ignore_index] = float("nan")
    freq = t / total if total > 0 else torch.zeros_like(t)
    fw = freq * iou
    fwiou = float(fw[freq > 0].nansum()) if total > 0 else float("nan")
    return {
        "PA": float(diag.sum() / total) if total > 0 else float("nan"),
        "MPA": _mean(acc), "MIoU": _mean(iou), "FWIoU": fwiou, "mDice": _mean(dice),
        "acc": acc.tolist(), "IoU": iou.tolist(), "Dice": dice.tolist(), "total": int(total),
    }


def segmentation_metrics(pred: torch.Tensor, target: torch.Tensor, num_classes: int, *,
                         ignore_index: int | None = None, absent: float | None = None) -> dict:
    """PA, MPA, MIoU, FWIoU, mDice and per-class values for one batch (see the module docstring)."""
    cm = confusion_matrix(pred, target, num_classes, ignore_index)
    return scores_from_confusion(cm, absent=absent, ignore_index=ignore_index)


class SegmentationMetric:
    """Streaming version: ``update`` per batch, ``compute`` at the end (summed over DDP ranks).

    Example::

        m = SegmentationMetric(num_classes=21, ignore_index=255)
        for logits, mask in loader:
            m.update(logits, mask)     # (N, C, H, W) scores or (N, H, W) labels; mask (N, H, W)
        m.compute()["MIoU"]
    """

    def __init__(self, num_classes: int, *, ignore_index: int | None = None, absent: float | None = None,
                 device: torch.device | str | None = None) -> None:
        if not isinstance(num_classes, int) or num_classes < 1:
            raise DanluError(f"num_classes must be a positive int, got {num_classes!r}")
        self.num_classes, self.ignore_index, self.absent = num_classes, ignore_index, absent
        self.confmat = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=device)

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        """Add one batch to the confusion matrix."""
        cm = confusion_matrix(pred, target, self.num_classes, self.ignore_index)
        self.confmat += cm.to(self.confmat.device)

    def reset(self) -> None:
        self.confmat.zero_()

    def synced_confusion(self) -> torch.Tensor:
        """The confusion matrix summed over all ranks (a copy; the local state is unchanged)."""
        cm = self.confmat.clone()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(cm, op=torch.distributed.ReduceOp.SUM)
        return cm

    def compute(self) -> dict:
        """The metrics over everything seen so far, on all ranks."""
        return scores_from_confusion(self.synced_confusion(), absent=self.absent, ignore_index=self.ignore_index)
