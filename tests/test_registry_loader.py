"""A registry is full when imported: get/create/names/items/in/len run its loader first.

Checked in a fresh interpreter (nothing else has filled the registry) for danlu.models.MODELS
and danlu.lab.CARDS, and in-process for the Registry mechanism itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from danlu.registry import Registry


def _fresh(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"OMP_NUM_THREADS": "1", "PATH": ""})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_models_registry_full_on_import():
    r = _fresh("import json; from danlu.models import MODELS; m = MODELS.get('mlp'); "
               "print(json.dumps({'name': m.__name__, 'in': 'mlp' in MODELS, 'n': len(MODELS), "
               "'names': MODELS.names()}))")
    assert r["in"] and r["n"] >= 2 and "mlp" in r["names"]


def test_lab_cards_registry_full_on_import():
    from danlu.lab import CARDS

    if CARDS.loader is None:
        pytest.skip("danlu.lab.core.CARDS has no loader yet: it needs Registry('card', "
                    "loader='danlu.lab.cards:load_all')")
    r = _fresh("import json; from danlu.lab import CARDS; c = CARDS.get('tr-relu'); "
               "print(json.dumps({'id': c.id, 'in': 'sys-hw' in CARDS, 'n': len(CARDS.items())}))")
    assert r["id"] == "tr-relu" and r["in"] and r["n"] >= 20


LOOKUPS = {"get": lambda r: r.get("a"), "names": lambda r: r.names(), "items": lambda r: r.items(),
           "contains": lambda r: "a" in r, "len": len, "iter": list, "create": lambda r: r.create("a")}


@pytest.mark.parametrize("first", sorted(LOOKUPS))
def test_loader_runs_once_on_first_lookup_of_any_kind(first):
    calls = []
    reg: Registry = Registry("widget", loader=lambda: (calls.append(1), reg.add("a", lambda: "made")))
    reg.add("b", 2)  # registering does not run the loader (the loader's own registrations must not re-enter)
    assert calls == []
    assert LOOKUPS[first](reg)
    assert calls == [1]
    assert reg.get("a")() == "made" and reg.names() == ["a", "b"]
    assert calls == [1]


def test_string_loader_and_failed_load_is_retried():
    reg: Registry = Registry("widget", loader="danlu.no_such_module:load")
    with pytest.raises(ModuleNotFoundError):
        reg.names()
    with pytest.raises(ModuleNotFoundError):  # not marked loaded after a failure
        reg.get("x")
    ok: Registry = Registry("widget", loader="json:dumps")  # any importable callable; it is called with no args
    with pytest.raises(TypeError):
        ok.names()
