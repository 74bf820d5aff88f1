"""Lab cards, one module per area topic (``<area>_<topic>.py``), discovered automatically.

To add a card, drop a module here that uses :func:`danlu.lab.card`; nothing else to edit.
A module that fails to import does not take the lab down: it is registered as a card named
``<module>-import`` whose run raises the import error, so the report shows it as an error.
"""

from __future__ import annotations

import importlib
import pkgutil
import traceback

_loaded = False


def load_all() -> None:
    """Import every card module in this package (idempotent)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for mod in pkgutil.iter_modules(__path__):
        if mod.name.startswith("_"):
            continue
        try:
            importlib.import_module(f"{__name__}.{mod.name}")
        except Exception:
            _register_import_failure(mod.name, traceback.format_exc())


def _register_import_failure(module: str, tb: str) -> None:
    from danlu.lab.core import CARDS, CardInfo

    def fail(ctx):
        raise ImportError(f"card module danlu.lab.cards.{module} failed to import:\n{tb}")

    card_id = f"{module.replace('_', '-')}-import"
    CARDS.add(card_id, CardInfo(id=card_id, title=f"{module} (failed to import)",
                                claim="The card module imports.", source="danlu", area=module.split("_")[0],
                                quick={}, full={}, slow=False, fn=fail), overwrite=True)
