"""Image datasets from files: a CSV of ``image,label`` rows + an images folder, a class-per-folder tree, k-fold splits.

The CSV layout is Kaggle's classify-leaves one (d2l's "Kaggle classify leaves" chapter):
``train.csv`` with a header ``image,label`` and rows like ``images/0.jpg,acer_rubrum``, image paths
relative to the CSV's folder (or to ``image_dir``); a test CSV may have the ``image`` column only.
The folder layout is torchvision's ``ImageFolder`` one (``root/<class>/<file>``). Images are decoded
by Pillow (PNG, JPEG, GIF, WebP, BMP, ...), converted to ``channels`` channels and
resized (bilinear, antialiased) to ``image_size``; pixels become float in [0, 1], (C, H, W).

Every row is checked when the dataset is built: a missing image names the CSV line and path; an
undecodable image names its path; a label not among ``classes`` (e.g. a test label never seen in
training) names the line and the label.

The registered dataset ``image_csv`` (``danlu train`` ``data: {name: image_csv, args: {csv: ...}}``)
loads every image into memory and splits it; ``fold``/``folds`` take the validation split as one
fold of a stratified k-fold (:func:`kfold_indices`) of the non-test images.
"""

from __future__ import annotations

import csv
import pathlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from danlu.data.splits import DATASETS
from danlu.errors import DanluError

__all__ = ["ImageCSVDataset", "ImageFolderDataset", "decode_image_file", "kfold_indices", "load_image_csv"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")


def decode_image_file(path: str | pathlib.Path, *, channels: int = 3, image_size: int | None = None) -> Tensor:
    """Read an image file into float (channels, H, W) in [0, 1], resized to ``image_size`` square if given.

    Decoded by Pillow (``Image.convert("RGB")`` or ``"L"``: grey images are repeated to 3
    channels, colour ones weighted 0.299/0.587/0.114 to 1, ITU-R 601); resized with
    ``torchvision.transforms.v2.functional.resize`` (bilinear, antialiased).
    """
    import numpy as np
    from PIL import Image, UnidentifiedImageError
    from torchvision.transforms.v2 import functional as TF

    if channels not in (1, 3):
        raise DanluError(f"channels must be 1 or 3, got {channels!r}")
    p = pathlib.Path(path)
    if not p.is_file():
        raise DanluError(f"image file {str(p)!r} does not exist")
    try:
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L" if channels == 1 else "RGB"))
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise DanluError(f"cannot decode image {str(p)!r} ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else 'unreadable'})") from None
    img = torch.from_numpy(arr.copy()).reshape(arr.shape[0], arr.shape[1], -1).permute(2, 0, 1)  # (C, H, W) uint8
    x = img.float() / 255.0
    if image_size is not None:
        x = TF.resize(x, [image_size, image_size], antialias=True)
    return x


@dataclass(frozen=True)
class _Row:
    line: int
    path: pathlib.Path
    label: str | None


def _read_csv(csv_path: pathlib.Path, image_dir: pathlib.Path, image_col: str, label_col: str) -> list[_Row]:
    if not csv_path.is_file():
        raise DanluError(f"CSV file {str(csv_path)!r} does not exist")
    with open(csv_path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise DanluError(f"{csv_path}: the CSV is empty (expected a header with {image_col!r})")
        header = [h.strip() for h in header]
        if image_col not in header:
            raise DanluError(f"{csv_path}: header {header} has no {image_col!r} column")
        ii = header.index(image_col)
        li = header.index(label_col) if label_col in header else None
        rows = []
        for line, rec in enumerate(reader, start=2):
            if not rec or all(not c.strip() for c in rec):
                continue
            if len(rec) != len(header):
                raise DanluError(f"{csv_path}:{line}: expected {len(header)} fields ({','.join(header)}), "
                                 f"got {len(rec)}")
            rel = rec[ii].strip()
            path = image_dir / rel
            if not path.is_file():
                raise DanluError(f"{csv_path}:{line}: image {rel!r} not found (looked for {str(path)!r})")
            rows.append(_Row(line, path, rec[li].strip() if li is not None else None))
    if not rows:
        raise DanluError(f"{csv_path}: the CSV has a header but no rows")
    return rows


class ImageCSVDataset(Dataset):
    """Images listed in a CSV: item i is ``(x (C, H, W) float, y long)`` (or ``(x,)`` without labels).

    Args:
        csv_path: the CSV file (header with ``image_col`` and optionally ``label_col``).
        image_dir: base folder of the image paths (default: the CSV's folder).
        classes: the label names in index order (default: the sorted labels of this CSV). Give the
            training set's classes to a test CSV: an unknown label is then an error naming its line.
        channels: 1 or 3. image_size: resize to a square of this side (None: keep; then every image
            must have the same size to batch them).
        transform: applied to x after decoding (e.g. an augmentation preset).
    """

    def __init__(self, csv_path: str | pathlib.Path, image_dir: str | pathlib.Path | None = None, *,
                 classes: Sequence[str] | None = None, channels: int = 3, image_size: int | None = None,
                 image_col: str = "image", label_col: str = "label", transform: Any = None) -> None:
        self.csv_path = pathlib.Path(csv_path)
        base = pathlib.Path(image_dir) if image_dir is not None else self.csv_path.parent
        self.rows = _read_csv(self.csv_path, base, image_col, label_col)
        self.channels, self.image_size, self.transform = channels, image_size, transform
        labelled = [r.label is not None for r in self.rows]
        self.has_labels = all(labelled)
        if self.has_labels:
            names = sorted({r.label for r in self.rows}) if classes is None else list(classes)  # type: ignore[type-var]
            index = {c: i for i, c in enumerate(names)}
            for r in self.rows:
                if r.label not in index:
                    raise DanluError(f"{self.csv_path}:{r.line}: label {r.label!r} is not one of the "
                                     f"{len(names)} known classes ({', '.join(names[:6])}{', ...' if len(names) > 6 else ''})")
            self.classes = names
            self.targets = torch.tensor([index[r.label] for r in self.rows], dtype=torch.long)  # type: ignore[index]
        else:
            self.classes = list(classes or [])
            self.targets = None

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        x = decode_image_file(self.rows[i].path, channels=self.channels, image_size=self.image_size)
        if self.transform is not None:
            x = self.transform(x)
        return (x,) if self.targets is None else (x, self.targets[i])

    def load_all(self) -> tuple[Tensor, Tensor | None]:
        """Every image decoded, stacked (N, C, H, W), and the labels (N,) (None without labels)."""
        xs = [self[i][0] for i in _progress(range(len(self)), f"decoding {len(self)} images")]
        shapes = {tuple(x.shape) for x in xs}
        if len(shapes) > 1:
            raise DanluError(f"{self.csv_path}: images have different sizes {sorted(shapes)[:3]}; set image_size")
        return torch.stack(xs), self.targets


class ImageFolderDataset(ImageCSVDataset):
    """Images in ``root/<class>/<file>`` (torchvision's ImageFolder layout), classes = sorted folder names."""

    def __init__(self, root: str | pathlib.Path, *, classes: Sequence[str] | None = None, channels: int = 3,
                 image_size: int | None = None, transform: Any = None) -> None:
        self.csv_path = root_path = pathlib.Path(root)
        if not root_path.is_dir():
            raise DanluError(f"image folder {str(root)!r} does not exist")
        names = sorted(d.name for d in root_path.iterdir() if d.is_dir()) if classes is None else list(classes)
        rows = [_Row(0, f, d.name) for d in sorted(root_path.iterdir()) if d.is_dir()
                for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_SUFFIXES]
        if not rows:
            raise DanluError(f"image folder {str(root)!r} has no class folders with images ({', '.join(IMAGE_SUFFIXES)})")
        index = {c: i for i, c in enumerate(names)}
        for r in rows:
            if r.label not in index:
                raise DanluError(f"{root}: class folder {r.label!r} is not one of the known classes {names[:6]}")
        self.rows, self.channels, self.image_size, self.transform = rows, channels, image_size, transform
        self.has_labels, self.classes = True, names
        self.targets = torch.tensor([index[r.label] for r in rows], dtype=torch.long)  # type: ignore[index]


def _progress(items: Sequence[int], description: str) -> Any:
    """A transient rich progress bar on stderr over ``items`` (none for fewer than 500)."""
    if len(items) < 500:
        return items
    from rich.console import Console
    from rich.progress import track

    return track(items, description=description, transient=True, console=Console(stderr=True))


def kfold_indices(n: int, k: int, *, seed: int = 0, stratify: Tensor | None = None) -> list[tuple[Tensor, Tensor]]:
    """``k`` (train, val) index pairs covering ``range(n)``; every index is in exactly one val fold.

    Without ``stratify``: a seeded permutation cut like sklearn's ``KFold`` (the first ``n % k``
    folds one longer). With ``stratify`` (labels (n,)): each class's shuffled indices are dealt to
    the folds in turn, so class counts per fold differ by at most one.
    """
    if not isinstance(k, int) or k < 2 or k > n:
        raise DanluError(f"k-fold needs 2 <= k <= n, got k={k!r}, n={n}")
    g = torch.Generator().manual_seed(seed)
    if stratify is None:
        perm = torch.randperm(n, generator=g)
        sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
        folds = list(torch.split(perm, sizes))
    else:
        if len(stratify) != n:
            raise DanluError(f"stratify has {len(stratify)} labels for n={n} items")
        parts: list[list[Tensor]] = [[] for _ in range(k)]
        offset = 0
        for c in torch.unique(stratify):
            idx = torch.nonzero(stratify == c).flatten()
            idx = idx[torch.randperm(len(idx), generator=g)]
            for j in range(k):
                parts[(j + offset) % k].append(idx[j::k])
            offset += len(idx)  # the next class starts where this one stopped, so fold sizes stay even
        folds = [torch.cat(p)[torch.randperm(sum(len(t) for t in p), generator=g)] for p in parts]
    out = []
    for i, val in enumerate(folds):
        train = torch.cat([f for j, f in enumerate(folds) if j != i])
        out.append((train, val))
    return out


@DATASETS.register("image_csv")
def load_image_csv(*, seed: int = 0, csv: str, image_dir: str | None = None, image_size: int = 32,
                   channels: int = 3, test_fraction: float = 0.15, val_fraction: float = 0.15,
                   fold: int | None = None, folds: int = 5, name: str = "image_csv") -> Any:
    """An ``image,label`` CSV as :class:`danlu.data.Splits` in memory (stratified test split, then val).

    ``fold`` (0..folds-1) takes the validation split as that fold of a stratified k-fold of the
    non-test images (``val_fraction`` is then ignored).
    """
    from torch.utils.data import TensorDataset

    from danlu.data.splits import Splits, split_indices

    ds = ImageCSVDataset(csv, image_dir, channels=channels, image_size=image_size)
    if not ds.has_labels:
        raise DanluError(f"{csv}: a training CSV needs a 'label' column")
    x, y = ds.load_all()
    assert y is not None
    if not 0 < test_fraction < 1 or not 0 < val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise DanluError(f"test_fraction and val_fraction must be in (0, 1) with a sum below 1, got "
                         f"{test_fraction}, {val_fraction}")
    rest, test = split_indices(len(y), (1 - test_fraction, test_fraction), seed=seed, stratify=y)
    if fold is None:
        v = val_fraction / (1 - test_fraction)
        tr_i, va_i = split_indices(len(rest), (1 - v, v), seed=seed + 1, stratify=y[rest])
    else:
        if not isinstance(fold, int) or not 0 <= fold < folds:
            raise DanluError(f"fold must be an integer in 0..{folds - 1}, got {fold!r}")
        tr_i, va_i = kfold_indices(len(rest), folds, seed=seed, stratify=y[rest])[fold]
    tr, va = rest[tr_i], rest[va_i]
    return Splits(name, TensorDataset(x[tr], y[tr]), TensorDataset(x[va], y[va]), TensorDataset(x[test], y[test]),
                  len(ds.classes), tuple(x.shape[1:]), {"source": str(csv), "classes": ds.classes, "fold": fold})
