"""tf.train.Example / SequenceExample <-> plain Python dicts (the shape ``danlu tfrecord cat`` prints).

A feature is ``{"int64": [...]}``, ``{"float": [...]}`` or ``{"bytes": [...]}`` (bytes as ``bytes``,
or base64 strings when ``bytes_as="base64"``, the JSON form); a feature with no kind set is ``{}``.
An Example is ``{name: feature}``; a SequenceExample is
``{"context": {name: feature}, "feature_lists": {name: [feature, ...]}}``.

    >>> ex = make_example({"label": 3, "weight": [0.5, 2.0], "id": b"x1"})
    >>> example_to_dict(ex)
    {'id': {'bytes': [b'x1']}, 'label': {'int64': [3]}, 'weight': {'float': [0.5, 2.0]}}
    >>> make_example(example_to_dict(ex)).SerializeToString() == ex.SerializeToString()
    True
"""

from __future__ import annotations

import base64
import numbers
from collections.abc import Mapping
from typing import Any

import numpy as np

from danlu.data.tfrecord.proto import Example, Feature, Features, SequenceExample
from danlu.errors import DanluError

_KINDS = {"int64": "int64_list", "float": "float_list", "bytes": "bytes_list"}
_KIND_OF = {v: k for k, v in _KINDS.items()}


def _f32(v: float) -> float:
    """The shortest decimal that reads back as the same float32 (1.1f -> 1.1, not 1.100000023841858)."""
    r = repr(np.float32(v))
    if r.startswith("np.float32("):
        r = r[len("np.float32("):-1]
    return float(r)


def feature_to_dict(f: Feature, bytes_as: str = "raw") -> dict[str, list]:
    """One Feature as ``{"int64"|"float"|"bytes": [values]}`` (``{}`` if no kind is set)."""
    kind = f.WhichOneof("kind")
    if kind is None:
        return {}
    vals = getattr(f, kind).value
    if kind == "bytes_list":
        out = [base64.b64encode(v).decode("ascii") for v in vals] if bytes_as == "base64" else list(vals)
    elif kind == "float_list":
        out = [_f32(v) for v in vals]
    else:
        out = list(vals)
    return {_KIND_OF[kind]: out}


def _features_to_dict(fs: Features, bytes_as: str) -> dict[str, dict]:
    return {k: feature_to_dict(fs.feature[k], bytes_as) for k in sorted(fs.feature)}


def example_to_dict(example: Example | bytes, bytes_as: str = "raw") -> dict[str, dict]:
    """An Example (message or serialized bytes) as ``{name: {"int64"|"float"|"bytes": [...]}}``."""
    if isinstance(example, bytes | bytearray | memoryview):
        example = Example.FromString(bytes(example))
    return _features_to_dict(example.features, bytes_as)


def sequence_example_to_dict(seq: SequenceExample | bytes, bytes_as: str = "raw") -> dict[str, dict]:
    """A SequenceExample as ``{"context": {...}, "feature_lists": {name: [feature, ...]}}``."""
    if isinstance(seq, bytes | bytearray | memoryview):
        seq = SequenceExample.FromString(bytes(seq))
    fl = seq.feature_lists.feature_list
    return {"context": _features_to_dict(seq.context, bytes_as),
            "feature_lists": {k: [feature_to_dict(f, bytes_as) for f in fl[k].feature] for k in sorted(fl)}}


def record_to_dict(record: bytes, kind: str = "auto", bytes_as: str = "raw") -> dict[str, Any]:
    """Decode a serialized record as an Example or SequenceExample dict.

    ``kind="auto"`` reads a record with a non-empty ``feature_lists`` (field 2) as a
    SequenceExample and anything else as an Example (a SequenceExample with only a context has
    the same bytes as an Example with those features). Raises DanluError if it is neither.
    """
    if kind not in ("auto", "example", "sequence"):
        raise DanluError(f"unknown record kind {kind!r}; expected auto, example or sequence")
    try:
        if kind == "example":
            return example_to_dict(Example.FromString(record), bytes_as)
        seq = SequenceExample.FromString(record)
    except Exception as exc:  # protobuf's DecodeError
        raise DanluError(f"record is not a tf.train.{'Example' if kind == 'example' else 'SequenceExample'} "
                         f"({exc})") from None
    if kind == "sequence" or len(seq.feature_lists.feature_list):
        return sequence_example_to_dict(seq, bytes_as)
    return _features_to_dict(seq.context, bytes_as)


def _fill_feature(f: Feature, value: Any, name: str, bytes_as: str) -> None:
    if isinstance(value, Mapping):  # the dict form {"int64": [...]}
        if not value:
            return
        if len(value) != 1 or next(iter(value)) not in _KINDS:
            raise DanluError(f"feature {name!r}: expected one of {{'int64': [...]}}, {{'float': [...]}}, "
                             f"{{'bytes': [...]}}, got keys {sorted(value)}")
        kind, vals = next(iter(value.items()))
        vals = list(vals) if isinstance(vals, list | tuple | np.ndarray) else [vals]
        if kind == "bytes":
            vals = [base64.b64decode(v, validate=True) if bytes_as == "base64" and isinstance(v, str)
                    else (v.encode() if isinstance(v, str) else bytes(v)) for v in vals]
        try:
            getattr(f, _KINDS[kind]).value.extend(vals)
        except (TypeError, ValueError) as exc:
            raise DanluError(f"feature {name!r}: bad {kind} values ({exc})") from None
        return
    vals = value.reshape(-1).tolist() if isinstance(value, np.ndarray) else value
    if not isinstance(vals, list | tuple):
        vals = [vals]
    if all(isinstance(v, bytes | bytearray | str) for v in vals) and vals:
        f.bytes_list.value.extend(v.encode() if isinstance(v, str) else bytes(v) for v in vals)
    elif all(isinstance(v, numbers.Integral) for v in vals) and vals:
        f.int64_list.value.extend(int(v) for v in vals)
    elif all(isinstance(v, numbers.Real) for v in vals) and vals:
        f.float_list.value.extend(float(v) for v in vals)
    elif not vals:  # no values, no kind: an empty Feature (parses as zero values of any kind)
        return
    else:
        raise DanluError(f"feature {name!r}: values must be all ints, all floats or all bytes/str, got {vals[:3]!r}...")


def _fill_features(fs: Features, features: Mapping[str, Any], bytes_as: str) -> None:
    if not isinstance(features, Mapping):
        raise DanluError(f"features must be a dict name -> values, got {type(features).__name__}")
    for name, value in features.items():
        _fill_feature(fs.feature[str(name)], value, name, bytes_as)


def make_example(features: Mapping[str, Any], bytes_as: str = "raw") -> Example:
    """Build an Example from ``{name: value}``.

    A value is the dict form (``{"int64": [...]}`` ...) or plain data: int(s) -> int64_list,
    float(s) -> float_list, bytes/str -> bytes_list, numpy arrays flattened by their dtype; an empty
    list gives a Feature with no kind (write ``{"int64": []}`` to keep the kind).
    """
    ex = Example()
    _fill_features(ex.features, features, bytes_as)
    return ex


def make_sequence_example(context: Mapping[str, Any], feature_lists: Mapping[str, list],
                          bytes_as: str = "raw") -> SequenceExample:
    """Build a SequenceExample from a context dict and ``{name: [per-step value, ...]}``."""
    seq = SequenceExample()
    _fill_features(seq.context, context or {}, bytes_as)
    for name, steps in (feature_lists or {}).items():
        if not isinstance(steps, list | tuple):
            raise DanluError(f"feature_lists[{name!r}] must be a list of per-step features, got {type(steps).__name__}")
        fl = seq.feature_lists.feature_list[str(name)]
        for t, v in enumerate(steps):
            _fill_feature(fl.feature.add(), v, f"{name}[{t}]", bytes_as)
    return seq


def dict_to_record(d: Mapping[str, Any], bytes_as: str = "raw") -> bytes:
    """Inverse of :func:`record_to_dict`: serialize an Example dict or a SequenceExample dict."""
    if not isinstance(d, Mapping):
        raise DanluError(f"a record must be a JSON object, got {type(d).__name__}")
    fl = d.get("feature_lists")
    is_seq = (set(d) <= {"context", "feature_lists"} and isinstance(fl, Mapping)
              and all(isinstance(v, list) and all(isinstance(x, Mapping) for x in v) for v in fl.values()))
    if is_seq:
        return make_sequence_example(d.get("context") or {}, fl, bytes_as).SerializeToString()
    return make_example(d, bytes_as).SerializeToString()
