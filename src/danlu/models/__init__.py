"""Small models used by the lab cards and the Trainer, in one registry.

    >>> from danlu.models import create_model
    >>> m = create_model("mlp", in_features=64, num_classes=10, depth=3, width=32)

Each entry is a constructor taking keyword arguments; ``list_models()`` names them. The model
modules are imported at the first lookup of :data:`MODELS` (its loader), not at import.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from danlu.registry import Registry


def _load() -> None:
    """Import every model module of this package (their decorators fill :data:`MODELS`)."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


#: name -> model constructor; filled on first lookup (``MODELS.get("mlp")`` works right after import).
MODELS: Registry = Registry("model", loader=_load)


def list_models() -> list[str]:
    return MODELS.names()


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the registered model ``name`` with keyword arguments."""
    return MODELS.create(name, **kwargs)
