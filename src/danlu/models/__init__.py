"""Small models used by the lab cards and the Trainer, in one registry.

    >>> from danlu.models import create_model
    >>> m = create_model("mlp", in_features=64, num_classes=10, depth=3, width=32)

Each entry is a constructor taking keyword arguments; ``list_models()`` names them.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from danlu.registry import Registry

MODELS: Registry = Registry("model")


def list_models() -> list[str]:
    _load()
    return MODELS.names()


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with keyword arguments."""
    _load()
    return MODELS.create(name, **kwargs)


def _load() -> None:
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
