"""COCO JSON and PASCAL VOC XML from padded targets, and COCO results from detections.

The files are what ``danlu eval coco GT.json DETS.json`` and ``danlu eval voc GT DETS.json``
read (:mod:`danlu.metrics.detection`): image ids are ``1..N`` in split order (VOC: file stems
``000001``..), category ids are the class ids (VOC: the class names), boxes are COCO's
``[x, y, w, h]`` in pixels. Formats: https://cocodataset.org/#format-data and the PASCAL VOC
devkit (``<annotation><object><name/><bndbox>xmin..</bndbox></object>``, 1-based inclusive pixels).
"""

from __future__ import annotations

import json
import math
import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from danlu.detection.targets import unpad
from danlu.errors import DanluError


def coco_ground_truth(targets: Tensor, image_hw: tuple[int, int], classes: Mapping[int, str]) -> dict[str, Any]:
    """COCO ground truth of padded targets (N, G, 6) for N images of size ``image_hw``.

    ``area`` is the target's area column (the mask area for shapes), ``iscrowd`` 0.
    """
    labels, boxes, valid = unpad(targets)
    H, W = image_hw
    images = [{"id": i + 1, "width": W, "height": H, "file_name": f"{i + 1:06d}.png"} for i in range(len(targets))]
    anns = []
    for i, g in torch.nonzero(valid).tolist():
        x1, y1, x2, y2 = boxes[i, g].tolist()
        anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(labels[i, g]),
                     "bbox": [x1, y1, x2 - x1, y2 - y1], "area": float(targets[i, g, 5]), "iscrowd": 0})
    cats = [{"id": int(c), "name": str(n), "supercategory": "shape"} for c, n in sorted(classes.items())]
    return {"info": {"description": "danlu synthetic shapes"}, "images": images, "annotations": anns,
            "categories": cats}


def coco_results(detections: Sequence[Mapping[str, Tensor]], image_ids: Sequence[Any] | None = None,
                 category_ids: Mapping[int, Any] | None = None) -> list[dict[str, Any]]:
    """COCO results list from per-image detections (``boxes`` (K, 4) xyxy pixels, ``scores``, ``labels``).

    Args:
        detections: one dict per image (what :meth:`SSD.detect` returns).
        image_ids: the id of each image (default ``1..N``).
        category_ids: label -> category id (default: the label itself; VOC: the class name).
    """
    ids = list(range(1, len(detections) + 1)) if image_ids is None else list(image_ids)
    if len(ids) != len(detections):
        raise DanluError(f"coco_results: {len(detections)} images of detections but {len(ids)} image ids")
    out = []
    for img, det in zip(ids, detections, strict=True):
        b = det["boxes"].detach().float().cpu()
        wh = (b[:, 2:] - b[:, :2]).clamp(min=0)
        rows = torch.cat([b[:, :2], wh], 1).tolist()
        for box, s, c in zip(rows, det["scores"].tolist(), det["labels"].tolist(), strict=True):
            cat = category_ids[int(c)] if category_ids is not None else int(c)
            out.append({"image_id": img, "category_id": cat, "bbox": [round(v, 3) for v in box],
                        "score": round(float(s), 5)})
    return out


def voc_xml(labels: Tensor, boxes: Tensor, image_hw: tuple[int, int], classes: Mapping[int, str],
            name: str) -> str:
    """One VOC annotation file: labels (K,), xyxy boxes (K, 4) continuous pixels -> 1-based inclusive pixels.

    A continuous box [x1, x2) covers pixels floor(x1)..ceil(x2)-1 (0-based), i.e. xmin = floor(x1)+1
    and xmax = ceil(x2) (1-based).
    """
    from xml.sax.saxutils import escape

    H, W = image_hw
    objs = []
    for c, (x1, y1, x2, y2) in zip(labels.tolist(), boxes.tolist(), strict=True):
        xmin, ymin = math.floor(x1) + 1, math.floor(y1) + 1
        xmax, ymax = max(math.ceil(x2), xmin), max(math.ceil(y2), ymin)
        objs.append(f"  <object><name>{escape(classes[int(c)])}</name><difficult>0</difficult>"
                    f"<bndbox><xmin>{xmin}</xmin><ymin>{ymin}</ymin><xmax>{xmax}</xmax><ymax>{ymax}</ymax>"
                    f"</bndbox></object>")
    return (f"<annotation>\n  <filename>{escape(name)}.png</filename>\n  <size><width>{W}</width><height>{H}</height>"
            f"<depth>3</depth></size>\n" + "\n".join(objs) + ("\n" if objs else "") + "</annotation>\n")


def write_coco(path: str | os.PathLike, doc: Any, *, overwrite: bool = False) -> pathlib.Path:
    """Write a COCO document (ground truth dict or results list) atomically; refuse to replace a file unless asked."""
    from danlu.files import check_output, write_text

    p = check_output(path, overwrite=overwrite)
    return write_text(p, json.dumps(doc), overwrite=overwrite)


def write_voc(folder: str | os.PathLike, targets: Tensor, image_hw: tuple[int, int], classes: Mapping[int, str],
              *, overwrite: bool = False) -> pathlib.Path:
    """One ``NNNNNN.xml`` per image (stem = the COCO image id, zero-padded) in ``folder`` (created if absent).

    Detections for this ground truth use ``image_id`` = the stem and ``category_id`` = the class name
    (``coco_results(dets, image_ids=voc_image_ids(n), category_ids=classes)``).
    """
    from danlu.files import OutputExistsError, write_text

    root = pathlib.Path(folder)
    if root.exists() and not root.is_dir():
        raise DanluError(f"VOC folder {str(root)!r} exists and is not a directory")
    labels, boxes, valid = unpad(targets)
    names = voc_image_ids(len(targets))
    if not overwrite:
        clash = [n for n in names if (root / f"{n}.xml").exists()]
        if clash:
            raise OutputExistsError(f"VOC folder {str(root)!r} already holds {clash[0]}.xml; pass --overwrite "
                                    f"to replace it")
    root.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(names):
        write_text(root / f"{n}.xml", voc_xml(labels[i][valid[i]], boxes[i][valid[i]], image_hw, classes, n))
    return root


def voc_image_ids(n: int) -> list[str]:
    """The VOC file stems of images 1..n."""
    return [f"{i + 1:06d}" for i in range(n)]
