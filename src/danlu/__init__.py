"""danlu (丹炉, the alchemist's furnace): deep-learning techniques, each tested against a
reference and backed by a lab card that measures its claim on your machine.

``import danlu`` is kept light: subpackages (``danlu.data``, ``danlu.lab``, ...) are imported
on first attribute access, and heavy optional packages (matplotlib, triton, sklearn) are only
imported inside the functions that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBPACKAGES = (
    "attention", "cli", "data", "detection", "errors", "files", "gan", "kernels", "lab", "layers", "losses",
    "metrics", "models", "optim", "plotting", "priors", "quant", "registry", "rl", "robust", "runtime", "select",
    "seq", "ssm", "systems", "train", "vision",
)


def __getattr__(name: str) -> Any:
    if name in _SUBPACKAGES:
        return importlib.import_module(f"danlu.{name}")
    raise AttributeError(f"module 'danlu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_SUBPACKAGES])
