"""Robustness: adversarial attacks, embedding-space attacks, image corruptions and noise training.

==================  =====================================================================
attacks             FGSM, PGD (L-inf / L2, random start, restarts, targeted, early stop)
embedding           FGM / PGD on an ``nn.Embedding``'s output for text models (context manager)
corruptions         MNIST-C style corruptions of 28x28 grayscale images (5 severities), the
                    ``imagecorruptions`` wrapper for RGB, and the corruption benchmark table
gaussian            Gaussian noise augmentation with sigma chosen on a validation split
ant                 the Game of Noise's adversarial noise training (ANT): generator + history
==================  =====================================================================

Names are imported on first use (``import danlu.robust`` stays light). See ``docs/robust.md``.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ATTACKS": "attacks", "fgsm": "attacks", "pgd": "attacks", "pgd_l2": "attacks", "list_attacks": "attacks",
    "robust_accuracy": "attacks",
    "EmbeddingAttack": "embedding", "embedding_attack": "embedding",
    "CORRUPTIONS": "corruptions", "corrupt": "corruptions", "list_corruptions": "corruptions",
    "corruption_table": "corruptions.benchmark", "CorruptionTable": "corruptions.benchmark",
    "gaussian_noise": "gaussian", "select_sigma": "gaussian",
    "NoiseGenerator": "ant", "NoiseHistory": "ant", "AdversarialNoise": "ant",
}


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'danlu.robust' has no attribute {name!r}")
    return getattr(importlib.import_module(f"danlu.robust.{mod}"), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = sorted(_EXPORTS)
