"""COCO JSON loading (``coco_io.read_json``): the optional orjson parser gives what the standard json
module gives (the reference), and whatever orjson refuses (NaN, huge integers, bad syntax) gets the
standard module's result or error."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from danlu.errors import DanluError
from danlu.metrics.detection import coco_io
from danlu.metrics.detection.synthetic import synthetic_coco


class _StrictParser(types.ModuleType):
    """A stand-in for orjson (not always installed): refuses NaN/Infinity and integers past 64 bits,
    as orjson does, and counts its calls."""

    JSONDecodeError = json.JSONDecodeError

    def __init__(self) -> None:
        super().__init__("orjson")
        self.calls = 0

    def loads(self, data: bytes):
        self.calls += 1

        def no_constants(name):
            raise json.JSONDecodeError(f"{name} is not JSON", "", 0)

        def int64(text):
            v = int(text)
            if not -(2**63) <= v < 2**64:
                raise json.JSONDecodeError("integer past 64 bits", "", 0)
            return v

        return json.loads(data, parse_constant=no_constants, parse_int=int64)


@pytest.fixture(params=["stdlib", "fake-orjson", "orjson"])
def parser(request, monkeypatch):
    if request.param == "stdlib":
        monkeypatch.setitem(sys.modules, "orjson", None)  # import fails: the stdlib path
        return None
    if request.param == "fake-orjson":
        fake = _StrictParser()
        monkeypatch.setitem(sys.modules, "orjson", fake)
        return fake
    return pytest.importorskip("orjson")


def test_coco_files_load_the_same_with_any_parser(tmp_path, parser):
    gt, dets = synthetic_coco(num_images=30, num_categories=5, dets_per_image=10, seed=3)
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "d.json").write_text(json.dumps(dets))
    assert coco_io.read_json(tmp_path / "d.json", "detections") == dets
    g = coco_io.load_coco_gt(tmp_path / "gt.json")
    d = coco_io.load_coco_dets(str(tmp_path / "d.json"), g)
    want = coco_io.load_coco_dets(dets, coco_io.load_coco_gt(gt))
    assert np.array_equal(d.bbox, want.bbox) and np.array_equal(d.score, want.score)
    if isinstance(parser, _StrictParser):
        assert parser.calls == 3


@pytest.mark.parametrize("text, want", [
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, NaN, 1], "score": 0.5}]', "non-finite bbox"),
    ('[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": Infinity}]', "non-finite score"),
    ('[{"image_id": 1180591620717411303424, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.5}]',
     "unknown image_id|not in the ground truth|image"),
    ('[{"image_id": 1, "category_id": 1,', "not valid JSON: Expecting .* at line 1 column"),
])
def test_what_orjson_refuses_gets_the_standard_answer(tmp_path, parser, text, want):
    gt = {"images": [{"id": 1}], "categories": [{"id": 1, "name": "a"}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 2, 2]}]}
    (tmp_path / "d.json").write_text(text)
    with pytest.raises(DanluError, match=want):
        coco_io.load_coco_dets(tmp_path / "d.json", coco_io.load_coco_gt(gt))
