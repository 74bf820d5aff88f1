"""Box ops: torchvision as reference (IoU, GIoU, NMS, SSDMatcher, BoxCoder), hypothesis properties, anchors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from danlu.errors import DanluError
from danlu.metrics.boxes import (
    batched_nms,
    box_convert,
    box_iou,
    decode_boxes,
    encode_boxes,
    generalized_box_iou,
    match_anchors,
    multibox_anchors,
)

coord = st.floats(0, 100, allow_nan=False, width=32)
size = st.floats(0.5, 50, allow_nan=False, width=32)


@st.composite
def xyxy(draw, n_min=1, n_max=6):
    n = draw(st.integers(n_min, n_max))
    rows = [[x, y, x + w, y + h] for x, y, w, h in
            (draw(st.tuples(coord, coord, size, size)) for _ in range(n))]
    return torch.tensor(rows, dtype=torch.float64)


@settings(max_examples=60, deadline=None)
@given(xyxy())
def test_format_round_trip(b) -> None:
    for fmt in ("xywh", "cxcywh"):
        torch.testing.assert_close(box_convert(box_convert(b, "xyxy", fmt), fmt, "xyxy"), b)


@settings(max_examples=60, deadline=None)
@given(xyxy(), xyxy())
def test_iou_properties(a, b) -> None:
    iou = box_iou(a, b)
    assert iou.shape == (len(a), len(b))
    assert ((iou >= 0) & (iou <= 1 + 1e-12)).all()
    torch.testing.assert_close(iou, box_iou(b, a).T)
    torch.testing.assert_close(torch.diagonal(box_iou(a, a)), torch.ones(len(a), dtype=a.dtype))
    g = generalized_box_iou(a, b)
    assert (g <= iou + 1e-12).all() and (g >= -1 - 1e-12).all()


@settings(max_examples=40, deadline=None)
@given(xyxy(2, 5), xyxy(2, 5))
def test_batched_iou_equals_torchvision_per_image(a, b) -> None:
    from torchvision.ops import box_iou as tv_iou

    A = torch.stack([a, a.flip(0)])
    Bx = torch.stack([b, b + 3])
    out = box_iou(A, Bx)
    for i in range(2):
        torch.testing.assert_close(out[i], tv_iou(A[i], Bx[i]))


@settings(max_examples=60, deadline=None)
@given(xyxy(), xyxy())
def test_encode_decode_round_trip(b, a) -> None:
    n = min(len(a), len(b))
    ratio = (b[:n, 2:] - b[:n, :2]) / (a[:n, 2:] - a[:n, :2])
    assume(bool((ratio < 60).all()))  # decode clamps log-size at log(1000/16), as torchvision
    off = encode_boxes(b[:n], a[:n])
    torch.testing.assert_close(decode_boxes(off, a[:n]), b[:n], atol=1e-9, rtol=1e-9)


def test_encode_decode_match_torchvision_box_coder() -> None:
    from torchvision.models.detection._utils import BoxCoder

    g = torch.Generator().manual_seed(0)
    a = torch.rand(50, 2, generator=g) * 50
    anchors = torch.cat([a, a + 1 + torch.rand(50, 2, generator=g) * 20], 1)
    b = torch.rand(50, 2, generator=g) * 50
    boxes = torch.cat([b, b + 1 + torch.rand(50, 2, generator=g) * 20], 1)
    coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))  # = variances (0.1, 0.2)
    torch.testing.assert_close(encode_boxes(boxes, anchors), coder.encode_single(boxes, anchors))
    off = torch.randn(50, 4, generator=g)
    torch.testing.assert_close(decode_boxes(off, anchors), coder.decode_single(off, anchors))


def test_batched_nms_is_torchvision() -> None:
    from torchvision.ops import batched_nms as tv_nms

    g = torch.Generator().manual_seed(1)
    xy = torch.rand(200, 2, generator=g) * 100
    boxes = torch.cat([xy, xy + 5 + torch.rand(200, 2, generator=g) * 30], 1)
    scores, idxs = torch.rand(200, generator=g), torch.randint(0, 3, (200,), generator=g)
    keep = batched_nms(boxes, scores, idxs, 0.5)
    assert torch.equal(keep, tv_nms(boxes, scores, idxs, 0.5))
    kept = boxes[keep]
    for c in range(3):  # no two kept boxes of one class overlap above the threshold
        m = idxs[keep] == c
        iou = box_iou(kept[m], kept[m]).fill_diagonal_(0)
        assert (iou <= 0.5).all()


def test_anchors_match_the_ssd_definition() -> None:
    sizes, ratios = [0.75, 0.5, 0.25], [1, 2, 0.5]
    anc = multibox_anchors((2, 3), sizes, ratios, image_hw=(40, 60))
    assert anc.shape == (2 * 3 * 5, 4)
    k = 0  # loop form: cell (i, j), then shapes (s_i, r_0) and (s_0, r_j)
    for i in range(2):
        for j in range(3):
            cx, cy = (j + 0.5) / 3, (i + 0.5) / 2
            shapes = [(s, ratios[0]) for s in sizes] + [(sizes[0], r) for r in ratios[1:]]
            for s, r in shapes:
                w, h = s * math.sqrt(r) * 40 / 60, s / math.sqrt(r)
                torch.testing.assert_close(anc[k], torch.tensor([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
                k += 1


def test_match_anchors_equals_torchvision_ssd_matcher() -> None:
    from torchvision.models.detection._utils import SSDMatcher

    anchors = multibox_anchors((6, 6), [0.3, 0.15], [1, 2, 0.5])
    g = torch.Generator().manual_seed(2)
    gts = []
    for _ in range(3):
        xy = torch.rand(4, 2, generator=g) * 0.6
        gts.append(torch.cat([xy, xy + 0.1 + torch.rand(4, 2, generator=g) * 0.3], 1))
    batch = torch.stack(gts)  # (3, 4, 4)
    valid = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    ours = match_anchors(anchors, batch, valid, 0.5)
    for b in range(3):
        ref = SSDMatcher(0.5)(box_iou(batch[b][valid[b]], anchors))
        assert torch.equal(ours[b], ref.clamp(min=-1))
        assert (ours[b] < int(valid[b].sum())).all()


def test_bad_boxes() -> None:
    with pytest.raises(DanluError, match="format"):
        box_convert(torch.zeros(2, 4), "xyxy", "yxyx")
    with pytest.raises(DanluError, match=r"\(\.\.\., 4\)"):
        box_iou(torch.zeros(2, 3), torch.zeros(2, 4))
    with pytest.raises(DanluError, match="anchors"):
        multibox_anchors((0, 3), [0.5], [1])
