"""Folder/CSV image datasets, k-fold splits, the synthetic leaves generator and its `danlu train` config."""

from __future__ import annotations

import pathlib

import pytest
import torch

from danlu.errors import DanluError
from danlu.files import OutputExistsError
from danlu.vision.datasets import ImageCSVDataset, ImageFolderDataset, decode_image_file, kfold_indices
from danlu.vision.leaves import LEAF_CLASSES, make_leaves

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _images(folder: pathlib.Path, n: int, seed: int = 0, sub: str = "images") -> list[torch.Tensor]:
    """``n`` random RGB PNGs written by Pillow (the reference encoder) into ``folder/sub``."""
    from PIL import Image

    g = torch.Generator().manual_seed(seed)
    (folder / sub).mkdir(parents=True, exist_ok=True)
    imgs = [torch.randint(0, 256, (3, 6, 5), generator=g, dtype=torch.uint8) for _ in range(n)]
    for i, im in enumerate(imgs):
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(folder / sub / f"{i}.png")
    return imgs


def test_csv_dataset_decodes_exact_pixels(tmp_path: pathlib.Path) -> None:
    imgs = _images(tmp_path, 4)
    (tmp_path / "train.csv").write_text("image,label\n" + "".join(
        f"images/{i}.png,{'ab'[i % 2]}\n" for i in range(4)))
    ds = ImageCSVDataset(tmp_path / "train.csv")
    assert ds.classes == ["a", "b"] and ds.targets.tolist() == [0, 1, 0, 1]
    x, y = ds[2]
    torch.testing.assert_close(x, imgs[2].float() / 255)          # the PNG written by torchvision, back
    grey = decode_image_file(tmp_path / "images" / "1.png", channels=1)
    w = torch.tensor([0.299, 0.587, 0.114])[:, None, None]
    assert grey.shape == (1, 6, 5)
    assert (grey - (imgs[1].float() / 255 * w).sum(0, keepdim=True)).abs().max() < 1.5 / 255
    xs, ys = ImageCSVDataset(tmp_path / "train.csv", image_size=8).load_all()
    assert xs.shape == (4, 3, 8, 8) and ys.tolist() == [0, 1, 0, 1]


def test_csv_errors_name_the_line_and_path(tmp_path: pathlib.Path) -> None:
    _images(tmp_path, 2)
    (tmp_path / "train.csv").write_text("image,label\nimages/0.png,a\nimages/7.png,b\n")
    with pytest.raises(DanluError, match=r"train.csv:3: image 'images/7.png' not found"):
        ImageCSVDataset(tmp_path / "train.csv")
    (tmp_path / "images" / "bad.png").write_bytes(b"not a png at all")
    (tmp_path / "t2.csv").write_text("image,label\nimages/bad.png,a\n")
    with pytest.raises(DanluError, match=r"cannot decode image .*bad.png"):
        ImageCSVDataset(tmp_path / "t2.csv")[0]
    (tmp_path / "test.csv").write_text("image,label\nimages/0.png,a\nimages/1.png,zebra\n")
    with pytest.raises(DanluError, match=r"test.csv:3: label 'zebra' is not one of the 2 known classes"):
        ImageCSVDataset(tmp_path / "test.csv", classes=["a", "b"])
    (tmp_path / "nohead.csv").write_text("path,label\nimages/0.png,a\n")
    with pytest.raises(DanluError, match="no 'image' column"):
        ImageCSVDataset(tmp_path / "nohead.csv")
    with pytest.raises(DanluError, match="does not exist"):
        ImageCSVDataset(tmp_path / "missing.csv")


def test_unlabelled_csv_and_image_folder(tmp_path: pathlib.Path) -> None:
    _images(tmp_path, 3)
    (tmp_path / "test.csv").write_text("image\nimages/0.png\nimages/2.png\n")
    ds = ImageCSVDataset(tmp_path / "test.csv")
    assert not ds.has_labels and len(ds[0]) == 1
    for cls, n in (("cat", 2), ("dog", 3)):
        _images(tmp_path / "tree", n, sub=cls)
    folder = ImageFolderDataset(tmp_path / "tree")
    assert folder.classes == ["cat", "dog"] and folder.targets.tolist() == [0, 0, 1, 1, 1]
    assert folder[4][0].shape == (3, 6, 5)
    with pytest.raises(DanluError, match="does not exist"):
        ImageFolderDataset(tmp_path / "nope")


def test_kfold_matches_sklearn_kfold_and_stratifies() -> None:
    from sklearn.model_selection import KFold

    folds = kfold_indices(23, 5, seed=3)
    perm = torch.cat([v for _, v in folds])
    assert sorted(perm.tolist()) == list(range(23))
    for (tr, va), (sk_tr, sk_va) in zip(folds, KFold(5).split(range(23)), strict=True):
        assert va.tolist() == perm[torch.as_tensor(sk_va)].tolist()
        assert sorted(tr.tolist()) == sorted(perm[torch.as_tensor(sk_tr)].tolist())
    y = torch.tensor([0] * 11 + [1] * 7 + [2] * 5)
    strat = kfold_indices(23, 4, seed=0, stratify=y)
    assert sorted(torch.cat([v for _, v in strat]).tolist()) == list(range(23))
    for c in range(3):
        counts = [int((y[v] == c).sum()) for _, v in strat]
        assert max(counts) - min(counts) <= 1
    sizes = [len(v) for _, v in strat]
    assert max(sizes) - min(sizes) <= 1
    with pytest.raises(DanluError, match="2 <= k <= n"):
        kfold_indices(3, 5)


def test_make_leaves_is_deterministic_atomic_and_safe(tmp_path: pathlib.Path) -> None:
    a = make_leaves(tmp_path / "a", num_classes=3, per_class=4, test_per_class=2, image_size=16, seed=1)
    b = make_leaves(tmp_path / "b", num_classes=3, per_class=4, test_per_class=2, image_size=16, seed=1)
    assert (a / "train.csv").read_text() == (b / "train.csv").read_text()
    assert (a / "images" / "5.png").read_bytes() == (b / "images" / "5.png").read_bytes()
    rows = (a / "train.csv").read_text().splitlines()
    assert rows[0] == "image,label" and len(rows) == 13 and {r.split(",")[1] for r in rows[1:]} == set(LEAF_CLASSES[:3])
    assert len((a / "test.csv").read_text().splitlines()) == 7
    assert make_leaves(a, num_classes=3, per_class=4, test_per_class=2, image_size=16, seed=1) == a  # reused
    with pytest.raises(OutputExistsError, match="other parameters"):
        make_leaves(a, num_classes=3, per_class=5, test_per_class=2, image_size=16, seed=1)
    make_leaves(a, num_classes=3, per_class=5, test_per_class=2, image_size=16, seed=1, overwrite=True)
    assert len((a / "train.csv").read_text().splitlines()) == 16
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputExistsError, match="not written by danlu"):
        make_leaves(mine, overwrite=True)
    assert (mine / "notes.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary folder left


def test_leaves_dataset_through_the_registry(tmp_path: pathlib.Path) -> None:
    from danlu.data import load_dataset

    s = load_dataset("leaves", seed=0, root=str(tmp_path / "lv"), num_classes=3, per_class=10, image_size=16)
    assert s.input_shape == (3, 16, 16) and s.num_classes == 3
    assert len(s.train) + len(s.val) + len(s.test) == 30
    k = load_dataset("leaves", seed=0, root=str(tmp_path / "lv"), num_classes=3, per_class=10, image_size=16,
                     fold=1, folds=3)
    assert torch.equal(k.test.tensors[0], s.test.tensors[0]) and k.info["fold"] == 1


def test_leaves_config_trains_end_to_end(tmp_path: pathlib.Path) -> None:
    from danlu.train.config import load_config
    from danlu.train.trainer import train

    cfg = load_config(ROOT / "configs" / "leaves.yaml", [
        f"data.args.root={tmp_path / 'data'}", "data.args.per_class=12", "data.args.image_size=16",
        "loop.epochs=2", f"out_dir={tmp_path / 'run'}", "log.progress=false"])
    assert cfg.data.augment == "flip"
    res = train(cfg)
    assert 0.0 <= res.metrics["test_accuracy"] <= 1.0 and res.metrics["steps"] > 0
    assert (tmp_path / "data" / "train.csv").is_file() and (tmp_path / "run" / "metrics.json").is_file()


@pytest.mark.slow  # two `danlu train` processes (~12 s); the same errors are checked in-process above
def test_danlu_train_bad_inputs_are_one_line_errors(tmp_path: pathlib.Path) -> None:
    import subprocess
    import sys

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    cases = [([f"data.args.root={mine}"], "not written by danlu"),
             ([f"data.args.root={tmp_path / 'd'}", "data.augment=mixup"], "augmentation preset")]
    for overrides, expected in cases:
        proc = subprocess.run([sys.executable, "-m", "danlu", "train", str(ROOT / "configs" / "leaves.yaml"),
                               *overrides, "data.args.per_class=4", f"out_dir={tmp_path / 'run'}"],
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0] and "Traceback" not in proc.stderr
    assert (mine / "notes.txt").read_text() == "keep me"
