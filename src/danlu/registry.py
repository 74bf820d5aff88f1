"""Decorator-filled registries: the one mechanism danlu uses to map names to things.

Later capabilities add entries (``@MODELS.register("cnn")``) instead of branches, and every
registry gives the same clear error for an unknown name::

    >>> from danlu.registry import Registry
    >>> ACTS = Registry("activation")
    >>> @ACTS.register("double")
    ... def double(x): return 2 * x
    >>> ACTS.get("double")(3)
    6
    >>> ACTS.get("tripple")
    Traceback (most recent call last):
    ...
    danlu.errors.UnknownNameError: unknown activation 'tripple'; valid: double

A registry whose entries live in modules imported on demand (one module per model, per lab
card) takes a ``loader``: a callable, or ``"package.module:function"`` (a string, so the
registry's own module need not import it), run once before the first lookup. So
``from danlu.models import MODELS; MODELS.get("mlp")`` works without calling anything first:
``get``, ``create``, ``names``, ``items``, ``in``, iteration and ``len`` see every entry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from danlu.errors import DanluError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named mapping from string keys to objects (classes, functions, metadata records).

    Args:
        kind: what the entries are, used in error messages ("card", "model", "optimizer").
        loader: fills the registry (imports the modules whose decorators register the entries);
            a callable or ``"module:function"``; run once, at the first lookup.
    """

    def __init__(self, kind: str, *, loader: Callable[[], object] | str | None = None) -> None:
        self.kind = kind
        self.loader = loader
        self._entries: dict[str, T] = {}
        self._loaded = loader is None

    def _fill(self) -> None:
        """Run the loader once (registrations it triggers do not run it again)."""
        if self._loaded:
            return
        self._loaded = True
        fn = self.loader
        try:
            if isinstance(fn, str):
                import importlib

                module, _, attr = fn.partition(":")
                fn = getattr(importlib.import_module(module), attr) if attr else None
            if fn is not None:
                fn()
        except BaseException:
            self._loaded = False  # a failed load (Ctrl-C, an import error) is retried next time
            raise

    def register(self, name: str, *, overwrite: bool = False) -> Callable[[T], T]:
        """Decorator that registers its target under ``name`` and returns it unchanged."""

        def deco(obj: T) -> T:
            self.add(name, obj, overwrite=overwrite)
            return obj

        return deco

    def add(self, name: str, obj: T, *, overwrite: bool = False) -> None:
        """Register ``obj`` under ``name``; re-registering a name is an error unless ``overwrite``."""
        if not isinstance(name, str) or not name:
            raise DanluError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self._entries and not overwrite and self._entries[name] is not obj:
            raise DanluError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """Return the entry for ``name``; an unknown name raises with the valid names listed."""
        self._fill()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            valid = ", ".join(sorted(self._entries)) or "(none registered)"
            raise UnknownNameError(f"unknown {self.kind} {name!r}; valid: {valid}") from None

    def create(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """Call the entry registered under ``name`` (a class or factory) with the arguments."""
        factory = self.get(name)
        if not callable(factory):
            raise DanluError(f"{self.kind} {name!r} is not callable")
        return factory(*args, **kwargs)

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._fill()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """``(name, entry)`` pairs sorted by name."""
        self._fill()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._fill()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._fill()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {self.names()})"
