"""The SSD training loss: anchor matching, a classification loss (hard-negative mining or focal), smooth L1.

Liu et al., "SSD: Single Shot MultiBox Detector" (arXiv:1512.02325), section 2.2: every anchor is
matched to a ground truth (:func:`danlu.metrics.boxes.match_anchors`, IoU >= 0.5 plus each ground
truth's best anchor); the loss is ``(L_conf + L_loc) / N`` with ``N`` the number of matched anchors
in the batch, ``L_loc`` the smooth-L1 (beta 1) of the encoded offsets of matched anchors, and
``L_conf`` one of the registered classification losses (``CLS_LOSSES``):

- ``hard_negative``: softmax cross entropy over C + 1 on every positive anchor and on the
  ``neg_ratio`` (3) x (positives of the image) unmatched anchors with the highest loss (SSD's hard
  negative mining; torchvision's ``SSD.compute_loss``). One deviation: an image with no object
  keeps ``neg_ratio`` negatives (torchvision keeps none), so empty images teach "background".
- ``focal``: sigmoid focal loss (Lin et al., "Focal Loss for Dense Object Detection",
  arXiv:1708.02002; alpha 0.25, gamma 2) on the C foreground logits of every anchor, the
  background logit unused (the model must then score with sigmoids, ``SSD(scores="sigmoid")``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from danlu.metrics.boxes import encode_boxes, match_anchors
from danlu.registry import Registry


@dataclass(frozen=True)
class ClassLoss:
    """A classification loss of the SSD: ``fn(logits (B, A, C+1), labels (B, A), pos (B, A), **kw) -> ()``
    summed (the caller divides by N), and the score function the model must use with it."""

    fn: Callable[..., Tensor]
    scores: str


CLS_LOSSES: Registry[ClassLoss] = Registry("SSD classification loss")


def hard_negative_ce(logits: Tensor, labels: Tensor, pos: Tensor, *, neg_ratio: float = 3.0, **_: float) -> Tensor:
    """Summed CE of positives and of the ``neg_ratio`` x positives hardest negatives per image."""
    ce = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none").view_as(labels)  # (B, A)
    n_neg = (neg_ratio * pos.sum(1).clamp(min=1)).long()  # (B,) an empty image keeps neg_ratio negatives
    neg_loss = ce.detach().masked_fill(pos, -1.0)  # positives sort last
    rank = neg_loss.argsort(1, descending=True).argsort(1)  # (B, A) rank of each anchor's loss
    hard = rank < n_neg[:, None]
    return ce[pos].sum() + ce[hard & ~pos].sum()


def focal_sigmoid(logits: Tensor, labels: Tensor, pos: Tensor, *, alpha: float = 0.25, gamma: float = 2.0,
                  **_: float) -> Tensor:
    """Summed sigmoid focal loss of the C foreground logits against one-hot labels (background: all 0)."""
    from danlu.losses.focal import sigmoid_focal_loss

    C = logits.shape[-1] - 1
    target = F.one_hot(labels, C + 1)[..., 1:].to(logits.dtype)  # (B, A, C)
    return sigmoid_focal_loss(logits[..., 1:], target, alpha=alpha, gamma=gamma, reduction="sum")


CLS_LOSSES.add("hard_negative", ClassLoss(hard_negative_ce, "softmax"))
CLS_LOSSES.add("focal", ClassLoss(focal_sigmoid, "sigmoid"))


def ssd_loss(logits: Tensor, offsets: Tensor, anchors: Tensor, gt_labels: Tensor, gt_boxes: Tensor, gt_valid: Tensor,
             *, cls_loss: str = "hard_negative", iou_threshold: float = 0.5, neg_ratio: float = 3.0,
             alpha: float = 0.25, gamma: float = 2.0) -> tuple[Tensor, Tensor, Tensor]:
    """SSD loss of one batch.

    Args:
        logits: (B, A, C + 1) class logits.
        offsets: (B, A, 4) predicted offsets.
        anchors: (A, 4) normalised xyxy anchors.
        gt_labels: (B, G) int64 class ids 1..C (any value where not valid).
        gt_boxes: (B, G, 4) normalised xyxy ground truth.
        gt_valid: (B, G) bool, False for padding.
        cls_loss: a name in ``CLS_LOSSES``.
        iou_threshold, neg_ratio, alpha, gamma: see the module docstring.

    Returns:
        ``(loss, cls part, box part)``, each () and divided by N = max(matched anchors, 1).
    """
    matches = match_anchors(anchors, gt_boxes, gt_valid, iou_threshold)  # (B, A)
    pos = matches >= 0
    idx = matches.clamp(min=0)
    labels = torch.where(pos, gt_labels.gather(1, idx), torch.zeros_like(idx))  # (B, A)
    n = pos.sum().clamp(min=1).to(logits.dtype)
    matched = gt_boxes.gather(1, idx[..., None].expand(-1, -1, 4))  # (B, A, 4)
    target = encode_boxes(matched[pos], anchors.expand_as(matched)[pos])  # (P, 4)
    box = F.smooth_l1_loss(offsets[pos], target, beta=1.0, reduction="sum") / n
    cls = CLS_LOSSES.get(cls_loss).fn(logits, labels, pos, neg_ratio=neg_ratio, alpha=alpha, gamma=gamma) / n
    return cls + box, cls.detach(), box.detach()
