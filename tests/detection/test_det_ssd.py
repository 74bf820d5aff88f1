"""SSD model, loss and postprocessing against torchvision (SSD.compute_loss, sigmoid_focal_loss, nms)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from danlu.detection.loss import ssd_loss
from danlu.detection.ssd import SSD, postprocess
from danlu.errors import DanluError
from danlu.metrics.boxes import match_anchors


def _batch(B: int = 3, G: int = 3, A: int | None = None, seed: int = 0, empty_last: bool = False):
    g = torch.Generator().manual_seed(seed)
    model = SSD(num_classes=4, image_size=32, widths=(8, 8, 8, 8, 8), sizes=((0.2, 0.3), (0.4, 0.5), (0.7, 0.8)))
    A = model.anchors.shape[0]
    ctr = torch.rand(B, G, 2, generator=g) * 0.6 + 0.2
    wh = torch.rand(B, G, 2, generator=g) * 0.3 + 0.1
    boxes = torch.cat([ctr - wh / 2, ctr + wh / 2], -1)
    labels = torch.randint(1, 5, (B, G), generator=g)
    valid = torch.ones(B, G, dtype=torch.bool)
    valid[0, 2] = False
    if empty_last:
        valid[-1] = False
    logits = torch.randn(B, A, 5, generator=g, requires_grad=True)
    offsets = torch.randn(B, A, 4, generator=g, requires_grad=True)
    return model, boxes, labels, valid, logits, offsets


def _torchvision_ssd():
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD as TvSSD

    return TvSSD(torch.nn.Identity(), DefaultBoxGenerator([[2]]), (32, 32), 5, head=torch.nn.Identity())


def test_hard_negative_loss_equals_torchvision_compute_loss() -> None:
    model, boxes, labels, valid, logits, offsets = _batch()
    loss, cls, box = ssd_loss(logits, offsets, model.anchors, labels, boxes, valid)
    gl, go = torch.autograd.grad(loss, (logits, offsets))
    # torchvision: the same matches, ground truth per image as a list, anchors per image
    matches = match_anchors(model.anchors, boxes, valid)
    lg, of = logits.detach().clone().requires_grad_(), offsets.detach().clone().requires_grad_()
    targets = [{"boxes": boxes[i][valid[i]], "labels": labels[i][valid[i]]} for i in range(len(boxes))]
    # our matches index the padded G; torchvision indexes the image's valid boxes (same order, padding last here)
    ref = _torchvision_ssd().compute_loss(targets, {"cls_logits": lg, "bbox_regression": of},
                                          [model.anchors] * len(boxes), list(matches))
    assert cls == pytest.approx(float(ref["classification"].detach()), rel=1e-5)
    assert box == pytest.approx(float(ref["bbox_regression"].detach()), rel=1e-5)
    rl, ro = torch.autograd.grad(ref["classification"] + ref["bbox_regression"], (lg, of))
    assert torch.allclose(gl, rl, atol=1e-7) and torch.allclose(go, ro, atol=1e-7)


def test_empty_image_keeps_neg_ratio_negatives() -> None:
    model, boxes, labels, valid, logits, offsets = _batch(empty_last=True)
    loss, cls, _ = ssd_loss(logits, offsets, model.anchors, labels, boxes, valid)
    (gl,) = torch.autograd.grad(loss, logits)
    touched = (gl[-1].abs().sum(-1) > 0).sum()
    assert touched == 3  # torchvision's SSD would train none of the empty image's anchors
    ce = F.cross_entropy(logits[-1].detach(), torch.zeros(len(logits[-1]), dtype=torch.long), reduction="none")
    assert torch.equal((gl[-1].abs().sum(-1) > 0).nonzero().flatten().sort().values, ce.topk(3).indices.sort().values)


def test_focal_loss_equals_torchvision_sigmoid_focal_loss() -> None:
    from torchvision.ops import sigmoid_focal_loss

    model, boxes, labels, valid, logits, offsets = _batch(seed=1)
    _, cls, _ = ssd_loss(logits, offsets, model.anchors, labels, boxes, valid, cls_loss="focal")
    matches = match_anchors(model.anchors, boxes, valid)
    pos = matches >= 0
    cls_t = torch.where(pos, labels.gather(1, matches.clamp(min=0)), 0)
    target = F.one_hot(cls_t, 5)[..., 1:].float()
    ref = sigmoid_focal_loss(logits[..., 1:], target, alpha=0.25, gamma=2.0, reduction="sum") / pos.sum()
    assert float(cls) == pytest.approx(float(ref.detach()), rel=1e-5)


def test_forward_shapes_and_anchor_count() -> None:
    m = SSD(num_classes=3, image_size=64)
    cls, off = m(torch.zeros(2, 3, 64, 64, dtype=torch.uint8))
    A = 4 * (16 * 16 + 8 * 8 + 4 * 4 + 2 * 2)  # 2 sizes + 3 ratios - 1 = 4 anchors per cell
    assert cls.shape == (2, A, 4) and off.shape == (2, A, 4) and m.anchors.shape == (A, 4)
    focal = SSD(num_classes=3, image_size=64, scores="sigmoid")
    with torch.no_grad():
        probs = focal.class_probs(focal(torch.zeros(1, 3, 64, 64))[0])
    assert probs.shape == (1, A, 3) and abs(float(probs.mean()) - 0.01) < 0.01  # RetinaNet prior
    with pytest.raises(DanluError, match="scores"):
        SSD(scores="tanh")
    with pytest.raises(DanluError, match="no cells"):
        SSD(image_size=16)


def test_postprocess_matches_per_class_nms_reference() -> None:
    from torchvision.ops import box_iou, nms

    g = torch.Generator().manual_seed(2)
    anchors = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.12, 0.1, 0.52, 0.5], [0.6, 0.6, 0.9, 0.9], [0.1, 0.1, 0.5, 0.52]])
    probs = torch.rand(1, 4, 2, generator=g)
    offsets = torch.zeros(1, 4, 4)  # boxes = anchors
    out = postprocess(probs, offsets, anchors, image_hw=(100, 100), score_threshold=0.1, nms_iou=0.5)[0]
    expect = []
    for c in range(2):
        keep = probs[0, :, c] > 0.1
        b, s = anchors[keep] * 100, probs[0, keep, c]
        for i in nms(b, s, 0.5):
            expect.append((round(float(s[i]), 6), c + 1))
    got = sorted(zip([round(v, 6) for v in out["scores"].tolist()], out["labels"].tolist(), strict=True))
    assert got == sorted(expect)
    assert out["scores"].tolist() == sorted(out["scores"].tolist(), reverse=True)
    # the kept boxes of one class never overlap above the NMS threshold
    for c in (1, 2):
        b = out["boxes"][out["labels"] == c]
        iou = box_iou(b, b).fill_diagonal_(0)
        assert (iou <= 0.5).all()
