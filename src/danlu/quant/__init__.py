"""Quantization: fake quantization with the STE, BN folding, QAT/PTQ and an integer-only runtime.

Jacob et al. 2018, "Quantization and Training of Neural Networks for Efficient
Integer-Arithmetic-Only Inference" (arXiv:1712.05877). Typical use::

    qat = prepare_qat(model, QConfig())          # fake quant on weights and activations, BN folded
    ...train qat with danlu.train.fit...
    int_model = convert(qat)                      # int8 weights, int32 accumulators, M0 2^-n requant
    int_model.predict(x) == qat(x)                # the simulation, bit for bit (see docs/quant.md)
    save_quantized(int_model, "model.safetensors")

Submodules are imported lazily so ``import danlu.quant`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "QConfig": "config", "QScheme": "qparams", "qparams_from_range": "qparams", "OBSERVERS": "observers",
    "fake_quantize": "fake_quant", "lsq_fake_quantize": "fake_quant", "FakeQuantize": "fake_quant_module",
    "fold_bn": "fold", "fold_bn_eval": "fold", "quantize_multiplier": "fixed_point", "requantize": "fixed_point",
    "prepare_qat": "prepare", "prepare_ptq": "prepare", "calibrate": "prepare", "convert": "lowering",
    "freeze": "lowering", "IntegerModel": "lowering", "freeze_bn": "qat_modules", "set_phase": "qat_modules",
    "save_quantized": "export", "load_quantized": "export",
}


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"danlu.quant.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'danlu.quant' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
