"""danlu's SSD end to end (forward + decode + threshold + NMS) equals torchvision's SSD with the same weights."""

from __future__ import annotations

import pytest
import torch

from danlu.detection.reference import copy_weights, danlu_sizes, torchvision_ssd
from danlu.detection.ssd import SSD


@pytest.mark.parametrize("seed", [0, 1])
def test_detections_equal_torchvision_ssd(seed) -> None:
    from torchvision.models.detection.image_list import ImageList

    scales, widths = [0.2, 0.4, 0.7, 0.95], [8, 8, 16, 16, 16]
    torch.manual_seed(seed)
    ours = SSD(num_classes=3, image_size=32, widths=widths, sizes=danlu_sizes(scales)).eval()
    for p in ours.cls_heads.parameters():  # sharper scores than at init: fewer ties, real NMS work
        p.data.mul_(4)
    tv = torchvision_ssd(3, 32, widths, scales, topk_candidates=10_000, detections_per_img=50).eval()
    copy_weights(ours, tv)
    x = torch.randint(0, 256, (3, 3, 32, 32), dtype=torch.uint8)
    feats = list(tv.backbone(x.float() / 255).values())
    anchors = tv.anchor_generator(ImageList(x.float(), [(32, 32)] * 3), feats)[0]
    assert torch.allclose(anchors, ours.anchors * 32, atol=1e-4)  # same anchors, same order
    with torch.no_grad():
        theirs = tv(list(x.float() / 255))
    mine = ours.detect(x, score_threshold=0.05, nms_iou=0.45, top_k=10_000, max_detections=50)
    for a, b in zip(mine, theirs, strict=True):
        assert len(a["boxes"]) > 5
        ka = sorted(zip(a["labels"].tolist(), [round(s, 4) for s in a["scores"].tolist()], strict=True))
        kb = sorted(zip(b["labels"].tolist(), [round(s, 4) for s in b["scores"].tolist()], strict=True))
        assert ka == kb
        oa, ob = a["scores"].argsort(descending=True), b["scores"].argsort(descending=True)
        assert torch.allclose(a["boxes"][oa], b["boxes"][ob], atol=1e-3)
