"""`import danlu` is fast and pulls in no heavy optional package (matplotlib, triton, sklearn)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import danlu


def _probe(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_danlu_is_light_and_fast():
    code = (
        "import json, sys, time; import torch; t = time.perf_counter(); import danlu; "
        "import danlu.lab, danlu.data, danlu.registry, danlu.cli; dt = time.perf_counter() - t; "
        "heavy = [m for m in ('matplotlib', 'triton', 'sklearn', 'mlxtend', 'pycocotools') if m in sys.modules]; "
        "print(json.dumps({'dt': dt, 'heavy': heavy}))"
    )
    r = _probe(code)
    assert r["heavy"] == [], f"import danlu pulled in {r['heavy']}"
    assert r["dt"] < 1.5, f"import danlu took {r['dt']:.2f} s after torch (limit 1.5 s)"


def test_lazy_subpackage_access_and_unknown_attribute():
    assert danlu.registry.Registry is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        danlu.nope  # noqa: B018


def test_every_listed_subpackage_imports():
    import importlib
    import pkgutil

    for name in danlu._SUBPACKAGES:
        assert getattr(danlu, name).__name__ == f"danlu.{name}"
    on_disk = {m.name for m in pkgutil.iter_modules(danlu.__path__)} - {"__main__"}
    assert on_disk == set(danlu._SUBPACKAGES), on_disk ^ set(danlu._SUBPACKAGES)
    importlib.import_module("danlu.cli.verbs")


def test_tfrecord_files_without_torch():
    """Reading, writing and checking TFRecord files (the `danlu tfrecord` verbs) never imports torch;
    the PyTorch datasets still import on first use."""
    code = ("import sys; import danlu.data, danlu.data.tfrecord as t, danlu.cli.verbs.tfrecord; "
            "assert 'torch' not in sys.modules, 'torch imported'; "
            "assert 'TFRecordDataset' in dir(t); t.TFRecordDataset; assert 'torch' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
