"""safetensors export: round trip, JSON header, tamper and mismatch refusal, no silent overwrite."""

from __future__ import annotations

import json
import pathlib

import pytest
import torch
from quant_helpers import trained_qat

from danlu.errors import DanluError
from danlu.files import OutputExistsError
from danlu.models import create_model
from danlu.quant.export import load_quantized, read_header, save_quantized
from danlu.quant.lowering import convert


def _int_model(widths: list[int], seed: int = 0):  # noqa: ANN202
    return convert(trained_qat(create_model("cnn", in_channels=1, num_classes=10, widths=widths), (1, 8, 8),
                               seed=seed))


def test_round_trip_and_header(tmp_path: pathlib.Path) -> None:
    im = _int_model([4, 8])
    path = tmp_path / "m.safetensors"
    digest = save_quantized(im, path)
    header = read_header(path)
    assert header["format"] == "danlu.quant" and header["sha256"] == digest
    assert any(row[1] == "IntWeighted" and row[2]["kind"] == "conv" for row in header["structure"])
    other = _int_model([4, 8], seed=1)
    x = torch.randn(8, 1, 8, 8)
    assert not torch.equal(other(x), im(x))
    load_quantized(path, other)
    assert torch.equal(other(x), im(x))
    assert other.graph.get_submodule("q_features_0").weight.dtype == torch.int8


def test_tampered_file_refused(tmp_path: pathlib.Path) -> None:
    im = _int_model([4, 8])
    path = tmp_path / "m.safetensors"
    save_quantized(im, path)
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # flip one bit of tensor data
    path.write_bytes(bytes(raw))
    with pytest.raises(DanluError, match="tampered"):
        load_quantized(path, _int_model([4, 8]))


def test_mismatched_template_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.safetensors"
    save_quantized(_int_model([4, 8]), path)
    with pytest.raises(DanluError, match="structure|tensor"):
        load_quantized(path, _int_model([4, 6]))
    not_ours = tmp_path / "plain.safetensors"
    from safetensors.torch import save_file

    save_file({"a": torch.zeros(2)}, str(not_ours), metadata={"x": json.dumps(1)})
    with pytest.raises(DanluError, match="header"):
        load_quantized(not_ours, _int_model([4, 8]))


def test_no_silent_overwrite(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.safetensors"
    path.write_text("user file")
    with pytest.raises(OutputExistsError):
        save_quantized(_int_model([4, 8]), path)
    assert path.read_text() == "user file"
    save_quantized(_int_model([4, 8]), path, overwrite=True)
    assert read_header(path)["version"] == 1
