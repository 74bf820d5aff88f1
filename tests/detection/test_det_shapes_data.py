"""The shapes generator, the padded targets and the ``shapes`` dataset of the registry."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from danlu.data import load_dataset
from danlu.detection.shapes import CLASSES, make_shapes
from danlu.detection.targets import check_classes, pad_targets, sanitize_boxes, unpad
from danlu.errors import DanluError


@pytest.fixture(scope="module")
def data():
    return make_shapes(40, image_size=48, seed=3)


def test_deterministic_by_seed(data) -> None:
    again = make_shapes(40, image_size=48, seed=3)
    other = make_shapes(40, image_size=48, seed=4)
    assert np.array_equal(data.images, again.images) and np.array_equal(data.semantic, again.semantic)
    assert all(np.array_equal(a, b) for a, b in zip(data.boxes, again.boxes, strict=True))
    assert not np.array_equal(data.images, other.images)


def test_masks_boxes_and_classes_agree(data) -> None:
    H, W = data.image_size
    seen = set()
    for lab, box, inst, sem in zip(data.labels, data.boxes, data.instance_masks, data.semantic, strict=True):
        assert inst.shape == (len(lab), H, W) and box.shape == (len(lab), 4)
        for c, b, m in zip(lab, box, inst, strict=True):
            seen.add(int(c))
            assert 0 <= b[0] < b[2] <= W and 0 <= b[1] < b[3] <= H
            ys, xs = np.nonzero(m)
            assert len(xs) > 0, "every kept object is visible"
            # every visible pixel centre lies inside the object's box
            assert (xs + 0.5 >= b[0]).all() and (xs + 0.5 <= b[2]).all()
            assert (ys + 0.5 >= b[1]).all() and (ys + 0.5 <= b[3]).all()
            assert (sem[m] == c).all(), "the semantic mask holds the visible object's class"
        union = inst.any(0) if len(lab) else np.zeros((H, W), bool)
        assert np.array_equal(union, sem > 0)
        if len(lab) > 1:  # visible masks are disjoint (later shapes hide earlier ones)
            assert inst.sum(0).max() == 1
    assert seen == set(CLASSES)


def test_circle_area_closed_form() -> None:
    # one big circle per image, no occlusion: the mask area is pi r^2 up to the pixel grid
    d = make_shapes(30, image_size=64, max_objects=1, empty_frac=0.0, seed=0)
    for lab, box, m in zip(d.labels, d.boxes, d.instance_masks, strict=True):
        if lab[0] == 1:
            r = (box[0, 2] - box[0, 0]) / 2
            assert abs(m.sum() - np.pi * r * r) < 2 * np.pi * r + 4


def test_empty_images() -> None:
    d = make_shapes(5, empty_frac=1.0, seed=0)
    assert all(len(lab) == 0 for lab in d.labels) and (d.semantic == 0).all()
    t = pad_targets([torch.from_numpy(x) for x in d.labels], [torch.from_numpy(b) for b in d.boxes])
    labels, _, valid = unpad(t)
    assert t.shape == (5, 1, 6) and not valid.any()


@pytest.mark.parametrize("kw", [{"n": 0}, {"image_size": 8}, {"min_size": 0.6, "max_size": 0.5},
                                {"empty_frac": 1.5}])
def test_bad_generator_arguments(kw) -> None:
    with pytest.raises(DanluError, match="make_shapes"):
        make_shapes(**{"n": 2, **kw})


def test_sanitize_clips_drops_and_counts() -> None:
    boxes = torch.tensor([[-4.0, 2, 10, 12], [5, 5, 9, 9], [70, 3, 80, 9], [60, 60, 64, 64]])
    out, labels, keep, rep = sanitize_boxes(boxes, torch.tensor([1, 2, 3, 4]), (64, 64), where="image 3")
    assert keep.tolist() == [True, True, False, True]
    assert out[0].tolist() == [0, 2, 10, 12] and labels.tolist() == [1, 2, 4]
    assert (rep.clipped, rep.dropped) == (1, 1)
    assert "image 3 box [70.0, 3.0, 80.0, 9.0] -> dropped" in str(rep)


@pytest.mark.parametrize("box,msg", [([5, 5, 2, 9], "x2 < x1"), ([0, float("nan"), 3, 3], "non-finite")])
def test_sanitize_rejects_non_boxes(box, msg) -> None:
    with pytest.raises(DanluError, match=msg):
        sanitize_boxes(torch.tensor([box]), torch.tensor([1]), (10, 10), where="image 1")


def test_class_id_outside_config_is_named() -> None:
    t = pad_targets([torch.tensor([1, 7])], [torch.tensor([[0.0, 0, 4, 4], [1, 1, 5, 5]])])
    with pytest.raises(DanluError, match=r"image 0 object 1 has class id 7, outside 1..4"):
        check_classes(t, 4)
    with pytest.raises(DanluError, match="more than max_objects=1"):
        pad_targets([torch.tensor([1, 2])], [torch.zeros(2, 4)], max_objects=1)


def test_registered_dataset_splits() -> None:
    s = load_dataset("shapes", n=60, image_size=32, seed=1)
    x, t, m = s.train.tensors
    assert x.dtype == torch.uint8 and x.shape[1:] == (3, 32, 32) and m.shape[1:] == (32, 32)
    assert t.shape[1:] == (4, 6) and s.num_classes == 4 and s.input_shape == (3, 32, 32)
    assert len(s.train) + len(s.val) + len(s.test) == 60
    assert s.info["classes"] == CLASSES
    # the same images whatever the split seed (data_seed fixes them); the split changes
    s2 = load_dataset("shapes", n=60, image_size=32, seed=2)
    all1 = torch.cat([s.train.tensors[0], s.val.tensors[0], s.test.tensors[0]]).flatten(1).sum(1).sort().values
    all2 = torch.cat([s2.train.tensors[0], s2.val.tensors[0], s2.test.tensors[0]]).flatten(1).sum(1).sort().values
    assert torch.equal(all1, all2) and not torch.equal(s.train.tensors[0], s2.train.tensors[0])


def test_sanitize_padded_targets_and_the_task_warns() -> None:
    from torch.utils.data import TensorDataset

    from danlu.detection.targets import sanitize_targets
    from danlu.train.tasks import create_task

    t = pad_targets([torch.tensor([1, 2, 3]), torch.tensor([4])],
                    [torch.tensor([[-2.0, 1, 5, 6], [20, 20, 30, 30], [3, 3, 9, 9]]), torch.tensor([[1.0, 1, 4, 4]])])
    out, rep = sanitize_targets(t, (16, 16))
    assert (rep.clipped, rep.dropped) == (1, 1)
    labels, boxes, valid = unpad(out)
    assert labels[0].tolist() == [1, 3, -1] and boxes[0, 0].tolist() == [0, 1, 5, 6]
    assert torch.equal(out[1], t[1])  # an image without bad boxes is unchanged
    task = create_task("detection")
    with pytest.warns(UserWarning, match="1 box\\(es\\) clipped to the image, 1 dropped"):
        ds = task.prepare(TensorDataset(torch.zeros(2, 3, 16, 16, dtype=torch.uint8), t))
    assert torch.equal(ds.tensors[1], out)
