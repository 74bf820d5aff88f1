"""Augmentation presets are torchvision v2 transforms; data.augment wraps only the training split."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from danlu.data.splits import tensor_splits
from danlu.errors import DanluError, UnknownNameError
from danlu.vision.augment import (
    AugmentedClassification,
    AugmentedDataset,
    apply_preset,
    augment_batch,
    create_preset,
    list_presets,
)


@pytest.mark.parametrize("name", list_presets())
def test_every_preset_keeps_shape_and_dtype(name: str) -> None:
    for shape in ((1, 8, 8), (3, 12, 10)):
        t = create_preset(name, shape)
        x = torch.rand(*shape)
        y = t(x)
        assert y.shape == x.shape and y.dtype == x.dtype


def test_flip_is_torchvision_flip() -> None:
    from torchvision.transforms import v2

    t = create_preset("flip", (1, 4, 4))
    x = torch.arange(16.0).view(1, 4, 4)
    seen = set()
    for s in range(20):
        torch.manual_seed(s)
        out = t(x)
        torch.manual_seed(s)
        ref = v2.RandomHorizontalFlip(0.5)(x)
        torch.testing.assert_close(out, ref)
        seen.add(bool(torch.equal(out, x.flip(-1))))
        assert torch.equal(out, x) or torch.equal(out, x.flip(-1))
    assert seen == {True, False}  # both outcomes happen


def test_apply_preset_wraps_the_training_split_only() -> None:
    x, y = torch.rand(40, 1, 6, 6), torch.arange(40) % 2
    splits = tensor_splits("toy", x, y, seed=0, num_classes=2)
    out = apply_preset(splits, "flip", seed=0)
    assert isinstance(out.train, AugmentedDataset) and out.val is splits.val and out.test is splits.test
    assert out.info["augment"] == "flip" and len(out.train) == len(splits.train)
    torch.manual_seed(0)
    xs = torch.stack([out.train[i][0] for i in range(len(out.train))])
    base = splits.train.tensors[0]
    flipped = [(a == b.flip(-1)).all() and not (a == b).all() for a, b in zip(xs, base, strict=True)]
    assert 0 < sum(flipped) < len(xs)


def test_augmented_task_trains_with_fit() -> None:
    from danlu.train import fit

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(16, 2))
    data = TensorDataset(torch.rand(32, 1, 4, 4), torch.arange(32) % 2)
    task = AugmentedClassification(create_preset("flip_crop", (1, 4, 4)))
    res = fit(task, model, data, steps=3, seed=0, batch_size=8)
    assert res is not None
    xb = torch.rand(5, 1, 4, 4)
    assert augment_batch(create_preset("flip", (1, 4, 4)), xb).shape == xb.shape


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(UnknownNameError, match="flip"):
        create_preset("mixup", (1, 8, 8))
    with pytest.raises(DanluError, match="C = 1 or 3"):
        create_preset("flip", (64,))
