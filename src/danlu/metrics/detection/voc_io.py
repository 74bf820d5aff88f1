"""Reading a folder of PASCAL VOC XML annotations as ground truth.

Each ``NAME.xml`` is one image whose id is ``NAME`` (a string, as in VOC's ImageSets lists); each
``<object>`` has ``<name>`` (the class; also the category id), optional ``<difficult>`` and
``<bndbox>`` with ``xmin ymin xmax ymax`` (1-based inclusive pixels). Detections for such ground
truth use the COCO results format with ``image_id`` = the file stem, ``category_id`` = the class
name and ``bbox = [xmin, ymin, xmax - xmin, ymax - ymin]``.
"""

from __future__ import annotations

import os
import pathlib
import xml.etree.ElementTree as ET

import numpy as np

from danlu.errors import DanluError
from danlu.metrics.detection.coco_io import CocoGroundTruth


def load_voc_xml(folder: str | os.PathLike) -> CocoGroundTruth:
    """Parse every ``*.xml`` under ``folder`` (not recursive) into :class:`CocoGroundTruth` arrays."""
    root = pathlib.Path(folder)
    if not root.is_dir():
        raise DanluError(f"VOC annotation folder {str(root)!r} is not a directory")
    files = sorted(root.glob("*.xml"))
    if not files:
        raise DanluError(f"VOC annotation folder {str(root)!r} has no *.xml files")
    rows = []  # (image stem, class, difficult, xmin, ymin, xmax, ymax)
    for f in files:
        try:
            tree = ET.parse(f)
        except ET.ParseError as exc:
            raise DanluError(f"VOC annotation {str(f)!r} is not valid XML: {exc}") from None
        for j, obj in enumerate(tree.getroot().iter("object")):
            name = (obj.findtext("name") or "").strip()
            box = obj.find("bndbox")
            if not name or box is None:
                raise DanluError(f"VOC annotation {str(f)!r} object {j} needs <name> and <bndbox>")
            try:
                coords = [float(box.findtext(k)) for k in ("xmin", "ymin", "xmax", "ymax")]
                difficult = int(obj.findtext("difficult") or 0)
            except (TypeError, ValueError):
                raise DanluError(f"VOC annotation {str(f)!r} object {j} ({name}) has a missing or non-numeric "
                                 f"bndbox/difficult value") from None
            if not all(np.isfinite(coords)) or coords[2] < coords[0] or coords[3] < coords[1]:
                raise DanluError(f"VOC annotation {str(f)!r} object {j} ({name}) has a bad box {coords} "
                                 f"(need xmin <= xmax, ymin <= ymax)")
            rows.append((f.stem, name, difficult, *coords))
    images = [f.stem for f in files]
    classes = sorted({r[1] for r in rows})
    imap, cmap = {s: i for i, s in enumerate(images)}, {c: i for i, c in enumerate(classes)}
    xyxy = np.array([r[3:] for r in rows], dtype=np.float64).reshape(-1, 4)
    bbox = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)  # (G, 4) xywh
    return CocoGroundTruth(
        image_ids=images, category_ids=classes, category_names=list(classes),
        img=np.array([imap[r[0]] for r in rows], dtype=np.int64),
        cat=np.array([cmap[r[1]] for r in rows], dtype=np.int64), bbox=bbox, area=bbox[:, 2] * bbox[:, 3],
        crowd=np.zeros(len(rows), dtype=bool), ann_id=np.arange(1, len(rows) + 1, dtype=np.int64),
        difficult=np.array([r[2] != 0 for r in rows], dtype=bool))
