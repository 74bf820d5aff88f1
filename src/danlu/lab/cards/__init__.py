"""Lab cards, one module per area topic (``<area>_<topic>.py``), discovered automatically.

To add a card, drop a module here that uses :func:`danlu.lab.card`; nothing else to edit.
"""

from __future__ import annotations

import importlib
import pkgutil


def load_all() -> None:
    """Import every card module in this package (idempotent)."""
    for mod in pkgutil.iter_modules(__path__):
        if not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
