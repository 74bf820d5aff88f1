"""danlu.registry.Registry: registration, lookup, clear errors."""

from __future__ import annotations

import pytest

from danlu.errors import DanluError, UnknownNameError
from danlu.registry import Registry


def test_register_get_create_and_names():
    reg: Registry = Registry("widget")

    @reg.register("b")
    def make_b(x=1):
        return ("b", x)

    reg.add("a", lambda: "a")
    assert reg.names() == ["a", "b"] and len(reg) == 2 and "a" in reg
    assert reg.get("b") is make_b
    assert reg.create("b", x=3) == ("b", 3)
    assert list(reg) == ["a", "b"]


def test_unknown_name_lists_valid_choices():
    reg: Registry = Registry("widget")
    reg.add("alpha", 1)
    reg.add("beta", 2)
    with pytest.raises(UnknownNameError, match=r"unknown widget 'gamma'; valid: alpha, beta"):
        reg.get("gamma")


def test_duplicate_and_bad_names_are_errors():
    reg: Registry = Registry("widget")
    reg.add("x", 1)
    with pytest.raises(DanluError, match="already registered"):
        reg.add("x", 2)
    reg.add("x", 3, overwrite=True)
    assert reg.get("x") == 3
    with pytest.raises(DanluError, match="non-empty string"):
        reg.add("", 1)
