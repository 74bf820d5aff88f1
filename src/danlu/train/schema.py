"""Typed dataclass fields with documentation, and the checks that turn YAML values into them.

Used by the training config (:mod:`danlu.train.config`) and by tasks' own ``Args`` (``task.args``):
``doc_field(default, doc)`` declares a field with its documentation (shown by ``--print-config``);
``coerce(value, annotation, where)`` checks a value against the annotation and names the field,
the expected type and the value when it does not fit.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import field
from typing import Any, Literal, get_args, get_origin

from danlu.errors import DanluError


class ConfigError(DanluError):
    """A config file or override that does not fit the schema."""


def doc_field(default: Any, doc: str) -> Any:
    """A dataclass field with a default (copied if mutable) and its documentation."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


def type_name(tp: Any) -> str:
    """A readable name of annotation ``tp`` ("int", "one of 'max', 'min'", "str or null")."""
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join("null" if a is type(None) else type_name(a) for a in get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; int -> float is the only conversion."""

    def bad() -> ConfigError:
        return ConfigError(f"config field {where} expects {type_name(tp)}, got {value!r} "
                           f"({type(value).__name__})")

    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in get_args(tp):
            raise bad()
        return value
    if origin in (types.UnionType, typing.Union):
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return coerce(value, arg, where)
            except ConfigError:
                pass
        raise bad()
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad()
        (item,) = get_args(tp)
        return [coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise bad()
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    raise ConfigError(f"config field {where}: unsupported annotation {tp!r}")  # a bug in this file


def hints(cls: type) -> dict[str, Any]:
    """Field name -> resolved annotation of dataclass ``cls``."""
    return typing.get_type_hints(cls)


def section(obj: Any, key: str, where: str) -> Any:
    """Field ``key`` of dataclass ``obj``; an unknown key lists the valid keys of section ``where``."""
    names = [f.name for f in dataclasses.fields(obj)]
    if key not in names:
        kind = f"section {where!r}" if where else "the top level"
        raise ConfigError(f"unknown config key {(where + '.' if where else '') + key!r}; "
                          f"valid keys of {kind}: {', '.join(names)}")
    return getattr(obj, key)
