"""``danlu eval`` protocols, one module each (``coco.py``, ``voc.py``, ...), discovered automatically.

A protocol module defines ``NAME``, ``HELP`` (one line), ``USAGE`` (a few lines for the verb's
description), ``add_arguments(parser)`` and ``run(args) -> int``; it imports only argparse at module
level. Add a protocol by dropping a module here; the verb lists it in ``danlu eval --help``.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def protocols() -> list[ModuleType]:
    """Every protocol module, in a stable order (coco and voc first, then by name)."""
    mods = [importlib.import_module(f"{__name__}.{m.name}")
            for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    first = {"coco": 0, "voc": 1}
    return sorted(mods, key=lambda m: (first.get(m.NAME, 2), m.NAME))
