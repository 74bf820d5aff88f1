"""FCN: bilinear-initialised upsampling (vs F.interpolate), skip fusion, the segmentation task and its loop."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

from danlu.cli import main
from danlu.detection.fcn import FCN
from danlu.errors import DanluError
from danlu.train.tasks import create_task


def test_no_skip_output_is_bilinear_upsampling_of_the_coarse_scores() -> None:
    torch.manual_seed(0)
    m = FCN(num_classes=3, widths=(4, 4, 4, 4), skips=0).eval()
    x = torch.rand(2, 3, 32, 32)
    coarse = m.score[0](m.backbone(x)[3])  # (2, 3, 4, 4)
    ref = F.interpolate(coarse, scale_factor=8, mode="bilinear", align_corners=False)
    out = m(x)
    assert out.shape == (2, 3, 32, 32)
    inner = (slice(None), slice(None), slice(8, -8), slice(8, -8))  # away from the border (zero padding there)
    assert torch.allclose(out[inner], ref[inner], atol=1e-5)


def test_skip_fusion_adds_the_finer_scores() -> None:
    torch.manual_seed(0)
    m = FCN(num_classes=3, widths=(4, 4, 4, 4), skips=1).eval()
    x = torch.rand(1, 3, 32, 32)
    f = m.backbone(x)
    fused = m.up2[0](m.score[0](f[3])) + m.score[1](f[2])  # (1, 3, 8, 8)
    assert torch.allclose(m(x), m.final(fused))
    assert m.final.stride == (4, 4) and len(m.up2) == 1
    with pytest.raises(DanluError, match="divisible by 8"):
        m(torch.zeros(1, 3, 20, 20))
    with pytest.raises(DanluError, match="skips"):
        FCN(widths=(4, 4, 4), skips=2)


def test_mask_label_outside_classes_is_named() -> None:
    task = create_task("segmentation")
    task.num_classes = 5
    x, m = torch.zeros(2, 3, 8, 8, dtype=torch.uint8), torch.zeros(2, 8, 8, dtype=torch.uint8)
    m[1, 3, 3] = 9
    with pytest.raises(DanluError, match="image 1 has mask label 9, outside 0..4"):
        task.prepare(TensorDataset(x, m))
    m[1, 3, 3] = 255  # ignore_index is fine
    assert task.prepare(TensorDataset(x, m)).tensors[1].dtype == torch.int64


def test_train_predict_masks_agree_with_metrics(tmp_path, capsys) -> None:
    from danlu.metrics.segmentation import segmentation_metrics

    out = tmp_path / "fcn"
    assert main(["train", "configs/shapes_fcn.yaml", "--out", str(out), "--quiet", "data.args.n=80",
                 "data.args.image_size=32", "data.batch_size=16", "loop.epochs=2", "schedule.args.warmup_steps=1",
                 "task.args.widths=[8,8,8,8]"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    pred, gt = tmp_path / "p.npy", tmp_path / "t.npy"
    assert main(["predict", str(out), "--data", "shapes", "--out", str(pred), "--gt", str(gt),
                 "--checkpoint", "last"]) == 0
    p, t = np.load(pred), np.load(gt)
    assert p.shape == t.shape == (12, 32, 32) and p.dtype == np.uint8
    res = segmentation_metrics(torch.from_numpy(p).long(), torch.from_numpy(t).long(), 5)
    assert res["MIoU"] == pytest.approx(metrics["test_miou"], abs=1e-12)
    assert res["PA"] == pytest.approx(metrics["test_pa"], abs=1e-12) and res["PA"] > 0
    assert main(["predict", str(out), "--data", "shapes", "--out", str(tmp_path / "x.json"), "--voc",
                 str(tmp_path / "v")]) == 2
    assert "--voc is for detection runs" in capsys.readouterr().err
