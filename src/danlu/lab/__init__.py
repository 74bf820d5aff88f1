"""The lab: cards that measure the catalogue's claims, a runner, and an HTML report.

    >>> from danlu.lab import list_cards
    >>> "tr-relu" in [c.id for c in list_cards()]
    True
"""

from __future__ import annotations

from danlu.lab.core import CARDS, VERDICTS, CardContext, CardInfo, CardResult, card


def list_cards(area: str | None = None) -> list[CardInfo]:
    """All registered cards (optionally of one area), sorted by area then id."""
    from danlu.lab.cards import load_all

    load_all()
    cards = [info for _, info in CARDS.items()]
    if area is not None:
        cards = [c for c in cards if c.area == area]
    return sorted(cards, key=lambda c: (c.area, c.id))


def get_card(card_id: str) -> CardInfo:
    """The card registered as ``card_id``; unknown ids raise with the valid ids listed."""
    from danlu.lab.cards import load_all

    load_all()
    return CARDS.get(card_id)


__all__ = ["CARDS", "VERDICTS", "CardContext", "CardInfo", "CardResult", "card", "get_card", "list_cards"]
