"""TFRecord without TensorFlow: framing, CRC32C, GZIP/ZLIB, tf.train.Example, indexes, datasets.

Byte-compatible with TensorFlow's ``tf.io.TFRecordWriter`` / ``tf.data.TFRecordDataset`` and
``tf.train.Example``; CRCs are checked on read by default (the ``tfrecord`` package checks none).

    >>> from danlu.data.tfrecord import (TFRecordWriter, read_records, make_example, parse_example,
    ...                                  FixedLenFeature, VarLenFeature)
    >>> with TFRecordWriter("/tmp/demo.tfrecord.gz", compression="gzip") as w:
    ...     for i in range(3):
    ...         w.write(make_example({"x": [float(i), 1.0], "tags": list(range(i))}))
    >>> spec = {"x": FixedLenFeature([2], "float32"), "tags": VarLenFeature("int64")}
    >>> [parse_example(r, spec)["tags"].tolist() for r in read_records("/tmp/demo.tfrecord.gz")]
    [[], [0], [0, 1]]

Modules: ``crc`` (masked CRC32C), ``reader``/``writer`` (framing), ``compression``, ``example``
(dict <-> message), ``spec`` (decode per feature spec; its fast paths: ``plan`` per byte layout,
``batch`` per batch, ``fast`` per raw Feature, ``wire`` helpers), ``index``, ``dataset`` (PyTorch
datasets), ``convert`` (to torch, ``collate``), ``proto`` (generated message classes; tools/gen_proto.sh).

The PyTorch datasets load on first use (:data:`_LAZY`), so reading, writing and checking files (the
``danlu tfrecord`` verbs) does not import torch.
"""

import importlib
from typing import Any

from danlu.data.tfrecord.convert import Decoded, collate
from danlu.data.tfrecord.crc import crc32c, mask_crc, masked_crc32c, unmask_crc
from danlu.data.tfrecord.errors import CorruptRecordError
from danlu.data.tfrecord.example import (
    dict_to_record,
    example_to_dict,
    make_example,
    make_sequence_example,
    record_to_dict,
    sequence_example_to_dict,
)
from danlu.data.tfrecord.index import build_index, count_records, create_index, read_index, write_index
from danlu.data.tfrecord.proto import Example, Feature, Features, SequenceExample
from danlu.data.tfrecord.reader import Problem, read_records, scan_records
from danlu.data.tfrecord.spec import (
    ExampleDecoder,
    FixedLenFeature,
    FixedLenSequenceFeature,
    RawFeature,
    VarLenFeature,
    parse_example,
    parse_examples,
    parse_sequence_example,
    to_torch,
)
from danlu.data.tfrecord.writer import TFRecordWriter, frame, write_records

__all__ = [
    "CorruptRecordError", "Decoded", "Example", "ExampleDecoder", "Feature", "Features", "FixedLenFeature",
    "FixedLenSequenceFeature", "Problem", "RawFeature", "SequenceExample", "TFRecordDataset",
    "TFRecordIndexedDataset", "TFRecordWriter", "VarLenFeature", "build_index", "collate", "consumer_slot",
    "count_records", "crc32c", "create_index", "dict_to_record", "example_to_dict", "frame", "make_example",
    "make_sequence_example", "mask_crc", "masked_crc32c", "parse_example", "parse_examples",
    "parse_sequence_example", "read_index", "read_records", "record_to_dict", "scan_records",
    "sequence_example_to_dict", "to_torch", "unmask_crc", "write_index", "write_records",
]

#: Names whose module imports torch, loaded on first access.
_LAZY = {"TFRecordDataset": "dataset", "TFRecordIndexedDataset": "dataset", "consumer_slot": "dataset"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"danlu.data.tfrecord.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'danlu.data.tfrecord' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])

