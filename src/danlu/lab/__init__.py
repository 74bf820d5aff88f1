"""The lab: cards that measure the catalogue's claims, a runner, and an HTML report.

    >>> from danlu.lab import list_cards
    >>> "tr-relu" in [c.id for c in list_cards()]
    True

Importing ``danlu.lab`` does not import torch: ``danlu lab`` must set the OpenMP environment
(:mod:`danlu.lab.threads`) before torch loads. The names below come from :mod:`danlu.lab.core`
on first use, and ``danlu.lab.CARDS`` is the full registry (every card module imported).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from danlu.lab.core import CARDS, VERDICTS, CardContext, CardInfo, CardResult, card

_FROM_CORE = ("CARDS", "VERDICTS", "CardContext", "CardInfo", "CardResult", "card")


def __getattr__(name: str) -> Any:
    if name in _FROM_CORE:
        core = importlib.import_module("danlu.lab.core")
        if name == "CARDS":
            from danlu.lab.cards import load_all

            load_all()
        return getattr(core, name)
    raise AttributeError(f"module 'danlu.lab' has no attribute {name!r}")


def list_cards(area: str | None = None) -> list[CardInfo]:
    """All registered cards (optionally of one area), sorted by area then id."""
    from danlu.lab.cards import load_all
    from danlu.lab.core import CARDS

    load_all()
    cards = [info for _, info in CARDS.items()]
    if area is not None:
        cards = [c for c in cards if c.area == area]
    return sorted(cards, key=lambda c: (c.area, c.id))


def get_card(card_id: str) -> CardInfo:
    """The card registered as ``card_id``; unknown ids raise with the valid ids listed."""
    from danlu.lab.cards import load_all
    from danlu.lab.core import CARDS

    load_all()
    return CARDS.get(card_id)


__all__ = ["CARDS", "VERDICTS", "CardContext", "CardInfo", "CardResult", "card", "get_card", "list_cards"]
