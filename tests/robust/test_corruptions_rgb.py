"""The RGB wrapper equals imagecorruptions' own ``corrupt`` (the reference) under the same numpy seed."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from danlu.errors import DanluError
from danlu.robust.corruptions import rgb


@pytest.fixture(scope="module")
def ic():
    try:
        return rgb.load_imagecorruptions()
    except DanluError as e:
        pytest.skip(str(e))


@pytest.mark.parametrize("name", ["gaussian_noise", "contrast", "motion_blur", "jpeg_compression"])
def test_wrapper_equals_imagecorruptions(ic, name):
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    out = rgb.corrupt_rgb(x, name, 3, seed=7)
    u8 = (x.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()
    np.random.seed(7)
    ref = np.stack([np.asarray(ic.corrupt(img, severity=3, corruption_name=name), dtype=np.float32) for img in u8])
    assert out.shape == x.shape
    assert np.abs(out.permute(0, 2, 3, 1).numpy() * 255 - ref).max() < 1e-3
    assert not torch.equal(out, x)


def test_wrapper_keeps_numpys_global_rng(ic):
    np.random.seed(1)
    a = np.random.rand()
    np.random.seed(1)
    rgb.corrupt_rgb(torch.rand(1, 3, 32, 32), "gaussian_noise", 1)
    assert np.random.rand() == a


def test_pkg_resources_stand_in_does_not_linger(ic):
    import sys

    mod = sys.modules.get("pkg_resources")
    assert mod is None or hasattr(mod, "working_set")  # the real one or none


def test_bad_input(ic):
    x = torch.rand(2, 3, 16, 16)
    with pytest.raises(DanluError, match="unknown RGB corruption 'snowstorm'; valid: .*gaussian_noise"):
        rgb.corrupt_rgb(x, "snowstorm", 1)
    with pytest.raises(DanluError, match="severity must be"):
        rgb.corrupt_rgb(x, "contrast", 9)
    with pytest.raises(DanluError, match=r"float \(N, 3, H, W\)"):
        rgb.corrupt_rgb(torch.rand(2, 1, 16, 16), "contrast", 1)
    with pytest.raises(DanluError, match="at least 32x32"):
        rgb.corrupt_rgb(x, "contrast", 1)


def test_missing_package_says_how_to_install(monkeypatch):
    real = importlib.import_module

    def fake(name, *a, **k):
        if name == "imagecorruptions":
            raise ModuleNotFoundError("No module named 'imagecorruptions'")
        return real(name, *a, **k)

    monkeypatch.setattr(rgb.importlib, "import_module", fake)
    with pytest.raises(DanluError, match="optional package imagecorruptions.*pip install imagecorruptions"):
        rgb.corrupt_rgb(torch.rand(1, 3, 8, 8), "contrast", 1)
