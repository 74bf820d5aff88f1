"""Every card's verdict rule is a pure function that can both hold and fail (issue: evidence).

Parametrized over the card registry: a new card without a rule, or without cases in
``tests/lab/rule_cases/<area>.py`` that make its rule answer both ``held`` and ``not held``,
fails here. The expected outcomes are written by hand from each card's pre-registered criterion.
"""

from __future__ import annotations

import pytest
from rule_cases import all_cases  # tests/lab is on sys.path (rootdir-relative, no __init__)

from danlu.lab import list_cards

CARDS = {c.id: c for c in list_cards()}
CASES = all_cases()


@pytest.mark.parametrize("card_id", sorted(CARDS))
def test_card_has_a_documented_rule(card_id):
    info = CARDS[card_id]
    assert info.rule is not None, f"{card_id}: register its verdict rule with @card(rule=...)"
    assert len(info.criterion) >= 30, f"{card_id}: the rule's docstring must state the criterion in words"


@pytest.mark.parametrize("card_id", sorted(CARDS))
def test_rule_can_hold_and_can_fail(card_id):
    cases = CASES.get(card_id)
    assert cases, f"{card_id}: no rule cases in tests/lab/rule_cases/"
    outcomes = {expected for _, expected in cases}
    assert True in outcomes and False in outcomes, f"{card_id}: needs a held case and a not-held case"
    rule = CARDS[card_id].rule
    for kwargs, expected in cases:
        got = rule(**kwargs)
        assert got is expected, f"{card_id}: rule({kwargs}) gave {got!r}, expected {expected!r}"


def test_no_cases_for_unknown_cards():
    assert not set(CASES) - set(CARDS), f"rule cases for cards that do not exist: {set(CASES) - set(CARDS)}"
