"""A small synthetic stand-in for Kaggle's classify-leaves data, written as PNG files + CSVs (no download).

Each class is a leaf "species" drawn as a mirror-symmetric shape (round, oval, triangle, diamond)
in a colour family (green, red, yellow), with random size, position, colour jitter, darker veins
(a midrib and symmetric side veins), a tinted background and pixel noise; a left-right flip never
changes the class, as for real leaves. The folder matches the Kaggle layout::

    root/images/0.png, 1.png, ...
    root/train.csv          image,label   (images/0.png,round_green)
    root/test.csv           image         (the test images, labels withheld)
    root/test_labels.csv    image,label   (for scoring)
    root/.danlu-leaves.json the generator's parameters (marks the folder as danlu's)

:func:`make_leaves` writes it all into a temporary folder and renames it onto ``root`` at the end,
so an interrupted run leaves nothing half-written; an existing ``root`` is reused when it was
written with the same parameters, replaced only with ``overwrite=True`` and only if danlu wrote it.
The registered dataset ``leaves`` generates (or reuses) the folder and loads it through the CSV
pipeline of :mod:`danlu.vision.datasets`.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import random
import secrets
import shutil
import tempfile
from typing import Any

from danlu.data.splits import DATASETS
from danlu.errors import DanluError
from danlu.files import OutputExistsError

__all__ = ["LEAF_CLASSES", "load_leaves", "make_leaves"]

_SHAPES = ("round", "oval", "triangle", "diamond")
_COLOURS = {"green": (60, 140, 50), "red": (170, 45, 35), "yellow": (200, 170, 40)}
#: the class names, in label order: shape_colour
LEAF_CLASSES = tuple(f"{s}_{c}" for c in _COLOURS for s in _SHAPES)
MARKER = ".danlu-leaves.json"


def _outline(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    """Polygon of a mirror-symmetric (about x = cx) leaf outline."""
    n = 48
    if shape == "round":
        return [(cx + r * math.sin(2 * math.pi * k / n), cy - r * math.cos(2 * math.pi * k / n)) for k in range(n)]
    if shape == "oval":
        return [(cx + 0.55 * r * math.sin(2 * math.pi * k / n), cy - r * math.cos(2 * math.pi * k / n))
                for k in range(n)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + 0.9 * r, cy + 0.75 * r), (cx - 0.9 * r, cy + 0.75 * r)]
    return [(cx, cy - r), (cx + 0.65 * r, cy), (cx, cy + r), (cx - 0.65 * r, cy)]  # diamond


def _jitter(rgb: tuple[int, int, int], rng: random.Random, amount: int) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in rgb)  # type: ignore[return-value]


def _draw(label: str, size: int, rng: random.Random) -> Any:
    from PIL import Image, ImageDraw

    shape, colour = label.split("_")
    bg = _jitter((200, 195, 180), rng, 30)
    img = Image.new("RGB", (size, size), bg)
    d = ImageDraw.Draw(img)
    r = size * rng.uniform(0.28, 0.42)
    cx = size / 2 + rng.uniform(-0.12, 0.12) * size
    cy = size / 2 + rng.uniform(-0.12, 0.12) * size
    fill = _jitter(_COLOURS[colour], rng, 35)
    d.polygon(_outline(shape, cx, cy, r), fill=fill)
    vein = tuple(int(0.6 * c) for c in fill)
    d.line([(cx, cy - r), (cx, cy + r)], fill=vein, width=1)
    for k in range(rng.randint(1, 3)):  # symmetric side veins
        y0 = cy - r / 2 + k * r / 2.5
        dx, dy = r * 0.45, -r * 0.3
        d.line([(cx, y0), (cx + dx, y0 + dy)], fill=vein, width=1)
        d.line([(cx, y0), (cx - dx, y0 + dy)], fill=vein, width=1)
    px = img.load()
    for _ in range(size * size // 6):  # speckle noise
        x, y = rng.randrange(size), rng.randrange(size)
        px[x, y] = _jitter(px[x, y], rng, 40)
    return img


def _params(num_classes: int, per_class: int, test_per_class: int, image_size: int, seed: int) -> dict[str, Any]:
    return {"format": 1, "num_classes": num_classes, "per_class": per_class, "test_per_class": test_per_class,
            "image_size": image_size, "seed": seed}


def make_leaves(root: str | pathlib.Path, *, num_classes: int = 6, per_class: int = 60, test_per_class: int = 10,
                image_size: int = 32, seed: int = 0, overwrite: bool = False) -> pathlib.Path:
    """Write the synthetic leaves folder at ``root`` (see the module docstring); returns ``root``.

    ``num_classes`` of :data:`LEAF_CLASSES` (in order), ``per_class`` training and ``test_per_class``
    test images each, ``image_size`` pixels square, all drawn from ``seed``.
    """
    if not isinstance(num_classes, int) or not 2 <= num_classes <= len(LEAF_CLASSES):
        raise DanluError(f"num_classes must be an integer in 2..{len(LEAF_CLASSES)}, got {num_classes!r}")
    for name, v, lo in (("per_class", per_class, 1), ("test_per_class", test_per_class, 0),
                        ("image_size", image_size, 8)):
        if not isinstance(v, int) or v < lo:
            raise DanluError(f"{name} must be an integer >= {lo}, got {v!r}")
    root = pathlib.Path(root)
    params = _params(num_classes, per_class, test_per_class, image_size, seed)
    if root.exists():
        marker = root / MARKER
        ours = marker.is_file()
        if ours and not overwrite:
            try:
                same = json.loads(marker.read_text()) == params
            except (OSError, ValueError):
                same = False
            if same:
                return root
        if not ours or not overwrite:
            what = "was written with other parameters" if ours else "exists and was not written by danlu"
            raise OutputExistsError(f"leaves folder {str(root)!r} {what}; choose another root"
                                    + (" or pass overwrite=True" if ours else ""))
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{root.name}.tmp-", dir=root.parent))
    try:
        _write(tmp, params)
        if root.exists():  # ours and overwrite=True (checked above)
            trash = root.with_name(f".{root.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
            os.replace(root, trash)
            shutil.rmtree(trash)
        os.replace(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return root


def _write(folder: pathlib.Path, params: dict[str, Any]) -> None:
    rng = random.Random(params["seed"])
    classes = LEAF_CLASSES[: params["num_classes"]]
    (folder / "images").mkdir()
    train, test = [], []
    i = 0
    for n, rows in ((params["per_class"], train), (params["test_per_class"], test)):
        labels = [c for c in classes for _ in range(n)]
        rng.shuffle(labels)
        for label in labels:
            name = f"images/{i}.png"
            _draw(label, params["image_size"], rng).save(folder / name)
            rows.append((name, label))
            i += 1
    (folder / "train.csv").write_text("image,label\n" + "".join(f"{a},{b}\n" for a, b in train))
    (folder / "test.csv").write_text("image\n" + "".join(f"{a}\n" for a, _ in test))
    (folder / "test_labels.csv").write_text("image,label\n" + "".join(f"{a},{b}\n" for a, b in test))
    (folder / MARKER).write_text(json.dumps(params, indent=1) + "\n")


@DATASETS.register("leaves")
def load_leaves(*, seed: int = 0, root: str | None = None, num_classes: int = 6, per_class: int = 60,
                image_size: int = 32, channels: int = 3, fold: int | None = None, folds: int = 5,
                data_seed: int = 0) -> Any:
    """The synthetic leaves through the CSV pipeline: ``train.csv`` split into train/val/test in memory.

    ``root``: where the folder is generated (or reused); None generates into a temporary folder
    that is deleted after loading. ``data_seed`` draws the images; ``seed`` the splits.
    """
    from danlu.vision.datasets import load_image_csv

    def load(folder: pathlib.Path) -> Any:
        make_leaves(folder, num_classes=num_classes, per_class=per_class, image_size=image_size, seed=data_seed)
        splits = load_image_csv(seed=seed, csv=str(folder / "train.csv"), image_size=image_size, channels=channels,
                                fold=fold, folds=folds, name="leaves")
        splits.info["root"] = str(folder) if root is not None else None
        return splits

    if root is not None:
        return load(pathlib.Path(root))
    with tempfile.TemporaryDirectory(prefix="danlu-leaves-") as d:
        return load(pathlib.Path(d) / "leaves")
