"""Segmentation metrics: parity with a numpy confusion matrix, torchmetrics' Jaccard, conventions, DDP."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from danlu.errors import DanluError
from danlu.metrics.segmentation import SegmentationMetric, confusion_matrix, segmentation_metrics


def _numpy_reference(pred: np.ndarray, target: np.ndarray, C: int, ignore: int | None):
    cm = np.zeros((C, C), dtype=np.int64)
    keep = target != ignore if ignore is not None else np.ones_like(target, dtype=bool)
    np.add.at(cm, (target[keep], pred[keep]), 1)
    d = np.diag(cm).astype(float)
    t, p = cm.sum(1).astype(float), cm.sum(0).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc, iou, dice = d / t, d / (t + p - d), 2 * d / (t + p)
    return cm, {"PA": d.sum() / t.sum(), "MPA": np.nanmean(acc), "MIoU": np.nanmean(iou),
                "FWIoU": np.nansum((t / t.sum()) * iou), "mDice": np.nanmean(dice), "IoU": iou, "acc": acc}


@pytest.mark.parametrize("seed", range(4))
def test_parity_with_numpy(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    C = 6
    target = torch.randint(0, C, (3, 17, 23), generator=g)
    target[target == 5] = 4  # class 5 absent from target
    pred = torch.where(torch.rand(target.shape, generator=g) < 0.7, target, torch.randint(0, C, target.shape, generator=g))
    pred[pred == 3] = 2  # class 3 never predicted
    ignore = 255 if seed % 2 else None
    if ignore is not None:
        target[:, :2] = 255
    cm_ref, ref = _numpy_reference(pred.numpy(), target.numpy(), C, ignore)
    cm = confusion_matrix(pred, target, C, ignore_index=ignore)
    np.testing.assert_array_equal(cm.numpy(), cm_ref)
    got = segmentation_metrics(pred, target, C, ignore_index=ignore)
    for k in ("PA", "MPA", "MIoU", "FWIoU", "mDice"):
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
    np.testing.assert_allclose(got["IoU"], ref["IoU"], atol=1e-12)
    assert math.isnan(got["acc"][5]) and got["IoU"][5] == 0.0  # predicted but absent: IoU 0, acc NaN


def test_parity_with_torchmetrics_jaccard() -> None:
    tm = pytest.importorskip("torchmetrics.classification")
    g = torch.Generator().manual_seed(0)
    C = 5
    target = torch.randint(0, C, (4, 32, 32), generator=g)
    target[target == 4] = 0  # class 4 absent from both target...
    pred = torch.where(torch.rand(target.shape, generator=g) < 0.6, target, torch.randint(0, 4, target.shape, generator=g))
    ours = segmentation_metrics(pred, target, C)
    none = tm.MulticlassJaccardIndex(C, average="none")(pred, target).double()
    macro = tm.MulticlassJaccardIndex(C, average="macro")(pred, target).item()
    weighted = tm.MulticlassJaccardIndex(C, average="weighted")(pred, target).item()
    np.testing.assert_allclose(ours["IoU"][:4], none[:4].numpy(), atol=1e-6)  # present classes agree
    assert math.isnan(ours["IoU"][4]) and none[4] == 0  # conventions differ only for the absent class
    assert ours["MIoU"] == pytest.approx(macro, abs=1e-6)  # macro also excludes classes absent from both
    assert ours["FWIoU"] == pytest.approx(weighted, abs=1e-6)  # support-weighted = frequency weighted
    ign = tm.MulticlassJaccardIndex(C, average="macro", ignore_index=0)(pred, target).item()
    assert segmentation_metrics(pred, target, C, ignore_index=0)["MIoU"] == pytest.approx(ign, abs=1e-6)


def test_absent_flag_selects_the_other_convention() -> None:
    target = torch.tensor([0, 0, 1, 1])
    pred = torch.tensor([0, 0, 1, 0])
    nan_conv = segmentation_metrics(pred, target, 3)
    zero_conv = segmentation_metrics(pred, target, 3, absent=0.0)
    iou0, iou1 = 2 / 3, 1 / 2
    assert nan_conv["MIoU"] == pytest.approx((iou0 + iou1) / 2)
    assert zero_conv["MIoU"] == pytest.approx((iou0 + iou1 + 0) / 3)
    assert segmentation_metrics(pred, target, 3, absent=1.0)["MIoU"] == pytest.approx((iou0 + iou1 + 1) / 3)
    assert nan_conv["PA"] == 0.75 and nan_conv["MPA"] == pytest.approx((1 + 0.5) / 2)
    assert nan_conv["mDice"] == pytest.approx((0.8 + 2 / 3) / 2)


def test_streaming_equals_one_shot_and_logits_accepted() -> None:
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, 9, 9, generator=g)
    target = torch.randint(0, 4, (6, 9, 9), generator=g)
    m = SegmentationMetric(4)
    for i in range(0, 6, 2):
        m.update(logits[i:i + 2], target[i:i + 2])
    assert m.compute() == segmentation_metrics(logits.argmax(1), target, 4)
    m.reset()
    assert m.confmat.sum() == 0


def test_background_heavy_scene_pa_high_miou_low() -> None:
    target = torch.zeros(100, 100, dtype=torch.long)
    target[40:50, 40:50] = 1
    target[10:15, 70:80] = 2
    res = segmentation_metrics(torch.zeros_like(target), target, 3)
    assert res["PA"] > 0.98 and res["MIoU"] < 0.34


@pytest.mark.parametrize("bad, match", [
    (lambda: confusion_matrix(torch.tensor([0, 1]), torch.tensor([0, 7]), 3), "target has label 7"),
    (lambda: confusion_matrix(torch.tensor([0, -1]), torch.tensor([0, 1]), 3), "pred has label -1"),
    (lambda: confusion_matrix(torch.tensor([0, 1, 2]), torch.tensor([0, 1]), 3), "shape"),
    (lambda: confusion_matrix(torch.randn(2, 5, 3), torch.zeros(2, 3, dtype=torch.long), 3), "channels"),
    (lambda: SegmentationMetric(0), "num_classes"),
])
def test_bad_input(bad, match) -> None:
    with pytest.raises(DanluError, match=match):
        bad()


def _ddp_worker(rank: int, world: int, init: str, q) -> None:
    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    g = torch.Generator().manual_seed(7)
    pred = torch.randint(0, 3, (4, 10), generator=g)
    target = torch.randint(0, 3, (4, 10), generator=g)
    m = SegmentationMetric(3)
    m.update(pred[rank::world], target[rank::world])
    q.put((rank, m.compute()["MIoU"], segmentation_metrics(pred, target, 3)["MIoU"]))
    torch.distributed.destroy_process_group()


def test_ddp_one_rank_goes_through_all_reduce(tmp_path) -> None:
    torch.distributed.init_process_group("gloo", init_method=f"file://{tmp_path / 'store1'}", rank=0, world_size=1)
    try:
        m = SegmentationMetric(3)
        m.update(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]))
        assert m.compute() == segmentation_metrics(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 2]), 3)
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ddp_all_reduce_two_ranks(tmp_path) -> None:
    import torch.multiprocessing as mp

    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    init = f"file://{os.path.join(tmp_path, 'store')}"
    procs = [ctx.Process(target=_ddp_worker, args=(r, 2, init, q)) for r in range(2)]
    for p in procs:
        p.start()
    out = [q.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert all(p.exitcode == 0 for p in procs)
    for _, synced, full in out:
        assert synced == pytest.approx(full, abs=1e-12)
