"""Verdict-rule cases per area: ``CASES = {card_id: [(kwargs, expected), ...]}`` in ``<area>.py``.

``expected`` is ``True`` (held), ``False`` (not held) or ``None`` (inconclusive). Every card needs
at least one held and one not-held case (``tests/lab/test_rules.py`` checks it), so a rule that no
input can fail, or that no input can pass, is caught. Build interval inputs with
``danlu.lab.evidence.Estimate.of(mean, half_width)`` or ``estimate([...])``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

Case = tuple[dict[str, Any], bool | None]


def all_cases() -> dict[str, list[Case]]:
    """Every area module's ``CASES`` merged; a card id in two modules is an error."""
    merged: dict[str, list[Case]] = {}
    for mod in pkgutil.iter_modules(__path__):
        cases = importlib.import_module(f"{__name__}.{mod.name}").CASES
        for card_id, cs in cases.items():
            if card_id in merged:
                raise AssertionError(f"rule cases for {card_id!r} defined twice (second in {mod.name})")
            merged[card_id] = list(cs)
    return merged
