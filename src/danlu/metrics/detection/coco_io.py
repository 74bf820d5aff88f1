"""Reading COCO ground truth and detection results into flat, validated numpy arrays.

The COCO formats (https://cocodataset.org/#format-data, #format-results):

- ground truth: ``{"images": [{"id": ...}], "categories": [{"id": ..., "name": ...}],
  "annotations": [{"id", "image_id", "category_id", "bbox": [x, y, w, h], "area", "iscrowd"}]}``
- detections: ``[{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...]``

Everything is checked before any number is computed: malformed JSON, a missing key, an unknown
image or category id, a duplicate id, a negative width or height, a non-finite coordinate or score
raise :class:`~danlu.errors.DanluError` naming the offending entry (its index and its content).
The fast path converts with list comprehensions; only when it fails is the list scanned entry by
entry to name the culprit.

An empty detections list is valid (every AP and recall is 0) but almost always a mistake (the
wrong file, a model that found nothing): it gives a warning.

Defaults where pycocotools would raise a ``KeyError``: a ground-truth annotation without
``iscrowd`` is not crowd, and one without ``area`` gets ``w * h``. Detections get
``area = w * h`` exactly as ``COCO.loadRes`` computes it.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np

from danlu.errors import DanluError

#: Anything accepted where a COCO JSON document is expected: a path or the already-parsed object.
JsonLike = str | os.PathLike | Mapping | Sequence


@dataclass(frozen=True)
class CocoGroundTruth:
    """Validated COCO ground truth as flat arrays (G annotations, I images, K categories).

    Attributes:
        image_ids: (I,) the image ids, sorted (pycocotools' ``params.imgIds``).
        category_ids: (K,) the category ids, sorted (pycocotools' ``params.catIds``).
        category_names: (K,) names aligned with ``category_ids`` ("" when absent).
        img: (G,) int64 index into ``image_ids``.
        cat: (G,) int64 index into ``category_ids``.
        bbox: (G, 4) float64 ``[x, y, w, h]``.
        area: (G,) float64 the annotation's ``area`` field (used for the area ranges).
        crowd: (G,) bool ``iscrowd``.
        ann_id: (G,) int64 annotation ids (pycocotools treats a match to id 0 as no match).
        difficult: (G,) bool, the optional VOC-style ``difficult`` field.
    """

    image_ids: list
    category_ids: list
    category_names: list[str]
    img: np.ndarray
    cat: np.ndarray
    bbox: np.ndarray
    area: np.ndarray
    crowd: np.ndarray
    ann_id: np.ndarray
    difficult: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_ids)

    @property
    def num_categories(self) -> int:
        return len(self.category_ids)


@dataclass(frozen=True)
class CocoDetections:
    """Validated detections as flat arrays in file order (N detections).

    Attributes:
        img: (N,) int64 index into the ground truth's ``image_ids``.
        cat: (N,) int64 index into the ground truth's ``category_ids``.
        bbox: (N, 4) float64 ``[x, y, w, h]``.
        score: (N,) float64 confidences.
    """

    img: np.ndarray
    cat: np.ndarray
    bbox: np.ndarray
    score: np.ndarray

    def __len__(self) -> int:
        return int(self.score.shape[0])


def read_json(src: JsonLike, what: str) -> Any:
    """Parse ``src`` (a path) as JSON, or return it unchanged when it is already parsed.

    With ``orjson`` installed (optional) the file is parsed by it: 1.4x faster to parse than the
    standard ``json`` module, 1.16-1.25x end to end for ``danlu eval coco`` on 5,000 images x 100
    detections (CPU time; benchmarks/results/data.md). Whatever orjson refuses (``NaN``,
    integers past 64 bits, lone surrogates, a syntax error) goes to ``json``, so the result, and
    the error for a bad file, are the standard module's.
    """
    if isinstance(src, (str, os.PathLike)):
        path = os.fspath(src)
        try:
            import orjson
        except ImportError:
            orjson = None
        with open(path, "rb") as f:
            data = f.read()
        if orjson is not None:
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        try:
            return json.loads(data.decode("utf-8"))
        except json.JSONDecodeError as exc:
            raise DanluError(f"{what} {path!r} is not valid JSON: {exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}") from None
    return src


def _show(entry: Any) -> str:
    text = json.dumps(entry, default=str) if isinstance(entry, (dict, list)) else repr(entry)
    return text if len(text) <= 200 else text[:197] + "..."


def _id_index(items: Any, what: str) -> tuple[list, dict]:
    """Sorted unique ids of ``items`` (each a dict with ``id``) and the id -> index map."""
    if not isinstance(items, list):
        raise DanluError(f"ground truth {what!r} must be a list, got {type(items).__name__}")
    ids = []
    for i, it in enumerate(items):
        if not isinstance(it, dict) or "id" not in it or not isinstance(it["id"], Hashable):
            raise DanluError(f"ground truth {what}[{i}] must be an object with a hashable 'id', got {_show(it)}")
        ids.append(it["id"])
    seen: set = set()
    for i, x in enumerate(ids):
        if x in seen:
            raise DanluError(f"ground truth {what}[{i}] repeats id {x!r}; ids must be unique")
        seen.add(x)
    try:
        ordered = sorted(ids)
    except TypeError:
        raise DanluError(f"ground truth {what} ids must be all numbers or all strings") from None
    return ordered, {x: n for n, x in enumerate(ordered)}


def _map_ids(raw: list, index: dict, entries: list, what: str, key: str, universe: str) -> np.ndarray:
    """Map raw ids to indices; an unknown id raises naming the first offending entry."""
    try:
        out = np.fromiter(map(index.get, raw, repeat(-1)), dtype=np.int64, count=len(raw))
    except TypeError:
        out = None
    if out is None or (out < 0).any():
        if out is None:
            bad = next(i for i, x in enumerate(raw) if not isinstance(x, Hashable))
        else:
            bad = int(np.flatnonzero(out < 0)[0])
        raise DanluError(f"{what}[{bad}] has {key} {raw[bad]!r}, which is not in the ground truth's "
                         f"{universe}: {_show(entries[bad])}")
    return out


def _boxes(entries: list, what: str, required: Sequence[str]) -> tuple[list, list, np.ndarray]:
    """Image ids, category ids and (N, 4) float64 boxes; a bad entry raises naming it."""
    try:
        img = [e["image_id"] for e in entries]
        cat = [e["category_id"] for e in entries]
        for k in required:
            for e in entries:
                e[k]  # noqa: B018 - presence check on the fast path
        boxes = [e["bbox"] for e in entries]
        if (np.fromiter(map(len, boxes), dtype=np.int64, count=len(boxes)) != 4).any():
            raise ValueError
        bbox = np.fromiter(chain.from_iterable(boxes), dtype=np.float64, count=4 * len(boxes)).reshape(-1, 4)
    except (KeyError, TypeError, ValueError, IndexError):
        for i, e in enumerate(entries):
            if not isinstance(e, dict):
                raise DanluError(f"{what}[{i}] must be an object, got {_show(e)}") from None
            for k in ("image_id", "category_id", "bbox", *required):
                if k not in e:
                    raise DanluError(f"{what}[{i}] has no {k!r}: {_show(e)}") from None
            b = e["bbox"]
            if (not isinstance(b, (list, tuple)) or len(b) != 4
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in b)):
                raise DanluError(f"{what}[{i}] bbox must be 4 numbers [x, y, w, h]: {_show(e)}") from None
        raise DanluError(f"{what} could not be read as boxes") from None
    bad = ~np.isfinite(bbox).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DanluError(f"{what}[{i}] has a non-finite bbox coordinate: {_show(entries[i])}")
    neg = (bbox[:, 2] < 0) | (bbox[:, 3] < 0)
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        raise DanluError(f"{what}[{i}] has a negative width or height (bbox is [x, y, w, h]): "
                         f"{_show(entries[i])}")
    return img, cat, bbox


def _numbers(entries: list, key: str, what: str, default: float | None = None) -> np.ndarray:
    try:
        if default is None:
            vals = np.array([e[key] for e in entries], dtype=np.float64)
        else:
            vals = np.array([e.get(key, default) for e in entries], dtype=np.float64)
        if vals.ndim != 1:
            raise ValueError
    except (KeyError, TypeError, ValueError):
        for i, e in enumerate(entries):
            v = e.get(key, default)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise DanluError(f"{what}[{i}] {key!r} must be a number, got {_show(e)}") from None
        raise DanluError(f"{what} {key!r} could not be read") from None
    bad = ~np.isfinite(vals)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DanluError(f"{what}[{i}] has a non-finite {key} {entries[i].get(key)!r}: {_show(entries[i])}")
    return vals


def load_coco_gt(src: JsonLike) -> CocoGroundTruth:
    """Read and validate COCO ground truth from a path or a parsed dict."""
    data = read_json(src, "ground truth")
    if not isinstance(data, dict):
        raise DanluError(f"ground truth must be a JSON object with images/annotations/categories, "
                         f"got {type(data).__name__}")
    for key in ("images", "annotations", "categories"):
        if key not in data:
            raise DanluError(f"ground truth has no {key!r} list (COCO format: images, annotations, categories)")
    image_ids, imap = _id_index(data["images"], "images")
    category_ids, cmap = _id_index(data["categories"], "categories")
    names = {c["id"]: str(c.get("name", "")) for c in data["categories"]}
    anns = data["annotations"]
    if not isinstance(anns, list):
        raise DanluError(f"ground truth 'annotations' must be a list, got {type(anns).__name__}")
    what = "ground truth annotations"
    img_raw, cat_raw, bbox = _boxes(anns, what, ("id",))
    img = _map_ids(img_raw, imap, anns, what, "image_id", "images")
    cat = _map_ids(cat_raw, cmap, anns, what, "category_id", "categories")
    ids_raw = [a["id"] for a in anns]
    if not all(isinstance(x, int) and not isinstance(x, bool) for x in ids_raw):
        i = next(i for i, x in enumerate(ids_raw) if not isinstance(x, int) or isinstance(x, bool))
        raise DanluError(f"{what}[{i}] id must be an integer: {_show(anns[i])}")
    ann_id = np.array(ids_raw, dtype=np.int64)
    if len(np.unique(ann_id)) != len(ann_id):
        uniq, first, counts = np.unique(ann_id, return_index=True, return_counts=True)
        dup = int(uniq[counts > 1][0])
        i = int(np.flatnonzero(ann_id == dup)[1])
        raise DanluError(f"{what}[{i}] repeats annotation id {dup}; ids must be unique")
    area = np.array([a["area"] if "area" in a else a["bbox"][2] * a["bbox"][3] for a in anns], dtype=np.float64)
    if (~np.isfinite(area) | (area < 0)).any():
        i = int(np.flatnonzero(~np.isfinite(area) | (area < 0))[0])
        raise DanluError(f"{what}[{i}] area must be a finite non-negative number: {_show(anns[i])}")
    crowd = _numbers(anns, "iscrowd", what, default=0) != 0
    difficult = _numbers(anns, "difficult", what, default=0) != 0
    return CocoGroundTruth(image_ids=image_ids, category_ids=category_ids,
                           category_names=[names[c] for c in category_ids], img=img, cat=cat, bbox=bbox,
                           area=area, crowd=crowd, ann_id=ann_id, difficult=difficult)


def load_coco_dets(src: JsonLike, gt: CocoGroundTruth) -> CocoDetections:
    """Read and validate COCO detection results (a path or a parsed list) against ``gt``."""
    data = read_json(src, "detections")
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list):
        raise DanluError(f"detections must be a JSON list of {{image_id, category_id, bbox, score}}, "
                         f"got {type(data).__name__}")
    what = "detections"
    img_raw, cat_raw, bbox = _boxes(data, what, ("score",))
    score = _numbers(data, "score", what)
    img = _map_ids(img_raw, {x: n for n, x in enumerate(gt.image_ids)}, data, what, "image_id", "images")
    cat = _map_ids(cat_raw, {x: n for n, x in enumerate(gt.category_ids)}, data, what, "category_id",
                   "categories")
    if not data:
        name = f" {os.fspath(src)!r}" if isinstance(src, (str, os.PathLike)) else ""
        n = len(gt.ann_id)
        warnings.warn(f"detections{name} hold no entries: AP and recall are 0 wherever there is ground truth "
                      f"({n} object{'' if n == 1 else 's'})", stacklevel=2)
    return CocoDetections(img=img, cat=cat, bbox=bbox, score=score)


def detections_from_arrays(gt: CocoGroundTruth, image_ids: Sequence, category_ids: Sequence,
                           boxes_xywh: Any, scores: Any) -> CocoDetections:
    """Detections given as arrays (N,), (N,), (N, 4) ``[x, y, w, h]``, (N,) instead of a JSON list."""
    bbox = np.asarray(boxes_xywh, dtype=np.float64).reshape(-1, 4)
    score = np.asarray(scores, dtype=np.float64).reshape(-1)
    img_raw, cat_raw = list(np.asarray(image_ids).tolist()), list(np.asarray(category_ids).tolist())
    n = bbox.shape[0]
    if not (len(img_raw) == len(cat_raw) == score.shape[0] == n):
        raise DanluError(f"detections arrays disagree in length: image_ids {len(img_raw)}, category_ids "
                         f"{len(cat_raw)}, boxes {n}, scores {score.shape[0]}")
    for name, bad in (("score", ~np.isfinite(score)), ("bbox", ~np.isfinite(bbox).all(1)),
                      ("width/height", (bbox[:, 2:] < 0).any(1))):
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DanluError(f"detection {i} has a bad {name}: bbox {bbox[i].tolist()}, score {score[i]!r} "
                             f"(need finite values and w, h >= 0)")
    img = _map_ids(img_raw, {x: n for n, x in enumerate(gt.image_ids)}, [None] * n, "detections", "image_id",
                   "images")
    cat = _map_ids(cat_raw, {x: n for n, x in enumerate(gt.category_ids)}, [None] * n, "detections",
                   "category_id", "categories")
    return CocoDetections(img=img, cat=cat, bbox=bbox, score=score)

