"""Save and load an ``IntegerModel`` as safetensors with a JSON header and a tamper check.

The file holds every buffer of the integer model (int8 weights, int32 biases, multipliers
``M0``, shifts, zero points, the input/output scales). Its safetensors metadata carries one
JSON string under ``"danlu.quant"``:

    {"format": "danlu.quant", "version": 1,
     "structure": [[module name, type, {config}], ...],   # layer kinds, strides, paddings, ...
     "sha256": "<digest of every tensor's name, dtype, shape and bytes>"}

``load_quantized(path, template)`` fills ``template`` (an ``IntegerModel`` converted from the
same architecture) and refuses a file whose digest does not match its tensors (tampered), whose
structure differs from the template's, or whose tensors' names/shapes/dtypes differ (mismatched).
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.files import PathLike, atomic_path, check_output

FORMAT, VERSION, META_KEY = "danlu.quant", 1, "danlu.quant"


def tensor_digest(tensors: dict[str, Tensor]) -> str:
    """sha256 over sorted (name, dtype, shape, raw bytes) of every tensor."""
    h = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def structure(model: nn.Module) -> list[list[Any]]:
    """[[name, type, {plain attributes}], ...] for every submodule: what the tensors alone do not say."""
    out: list[list[Any]] = []
    for name, m in model.named_modules():
        if not name:
            continue
        cfg = {k: list(v) if isinstance(v, tuple) else v for k, v in sorted(vars(m).items())
               if not k.startswith("_") and k != "training" and isinstance(v, (int, float, str, bool, tuple))}
        out.append([name, type(m).__name__, cfg])
    return out


def save_quantized(model: nn.Module, path: PathLike, *, overwrite: bool = False) -> str:
    """Write ``model``'s tensors and header to ``path`` atomically; returns the digest."""
    from safetensors.torch import save_file

    p = check_output(path, overwrite=overwrite)
    tensors = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    digest = tensor_digest(tensors)
    header = {"format": FORMAT, "version": VERSION, "structure": structure(model), "sha256": digest}
    with atomic_path(p, overwrite=overwrite) as tmp:
        save_file(tensors, os.fspath(tmp), metadata={META_KEY: json.dumps(header)})
    return digest


def read_header(path: PathLike) -> dict[str, Any]:
    """The JSON header of a saved integer model."""
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise DanluError(f"{os.fspath(path)!r} is not a readable safetensors file ({exc})") from exc
    if META_KEY not in meta:
        raise DanluError(f"{os.fspath(path)!r} has no {META_KEY!r} header; it was not saved by save_quantized")
    header = json.loads(meta[META_KEY])
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise DanluError(f"{os.fspath(path)!r}: expected format {FORMAT} v{VERSION}, got "
                         f"{header.get('format')} v{header.get('version')}")
    return header


def load_quantized(path: PathLike, template: nn.Module) -> nn.Module:
    """Load ``path`` into ``template`` after the tamper and structure checks; returns ``template``."""
    from safetensors.torch import load_file

    header = read_header(path)
    tensors = load_file(os.fspath(path))
    if tensor_digest(tensors) != header["sha256"]:
        raise DanluError(f"{os.fspath(path)!r}: tensor digest does not match the header (file tampered or corrupted)")
    want = json.loads(json.dumps(structure(template)))
    if header["structure"] != want:
        diff = next((a, b) for a, b in zip(header["structure"] + [None] * len(want), want + [None] * 999, strict=False)
                    if a != b)
        raise DanluError(f"{os.fspath(path)!r}: structure differs from the template at {diff[0]} vs {diff[1]}")
    own = template.state_dict()
    if set(own) != set(tensors):
        raise DanluError(f"{os.fspath(path)!r}: tensor names differ from the template: "
                         f"missing {sorted(set(own) - set(tensors))}, unexpected {sorted(set(tensors) - set(own))}")
    for k, v in own.items():
        if v.shape != tensors[k].shape or v.dtype != tensors[k].dtype:
            raise DanluError(f"{os.fspath(path)!r}: tensor {k!r} is {tensors[k].dtype}{list(tensors[k].shape)}, "
                             f"the template expects {v.dtype}{list(v.shape)}")
    template.load_state_dict(tensors)
    return template
