"""torch output and DataLoader paths with bytes features: per-record ``output="torch"`` (bytes stay
``bytes``), the default collate and danlu's ``collate`` (against ``default_collate`` on the same
numbers), DataLoader workers, and the per-record converter against the generic ``to_torch``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from danlu.data.tfrecord import (
    ExampleDecoder,
    FixedLenFeature,
    RawFeature,
    TFRecordDataset,
    VarLenFeature,
    make_example,
    to_torch,
    write_records,
)
from danlu.data.tfrecord.convert import collate, record_to_torch

SPEC = {"img": FixedLenFeature([], "bytes"), "pair": FixedLenFeature([2], "bytes"),
        "label": FixedLenFeature([], "int64"), "x": FixedLenFeature([4], "float32"),
        "raw": RawFeature([2, 2], "uint8"), "w": FixedLenFeature([], "float32", default_value=0.5)}


def _recs(n: int) -> list[bytes]:
    out = []
    for i in range(n):
        feats = {"img": {"bytes": [bytes([i % 256]) * (50 + i % 3)]}, "pair": {"bytes": [b"a" * i, b"b"]},
                 "label": i * 1000, "x": [i, 0.5, -1.0, 2.0], "raw": bytes([i % 256, 1, 2, 3])}
        if i % 4:
            feats["w"] = [float(i)]
        out.append(make_example(feats).SerializeToString())
    return out


def test_to_torch_turns_bytes_arrays_into_bytes():
    dec = ExampleDecoder(SPEC)
    rec = _recs(3)[2]
    t = to_torch(dec(rec))
    assert t["img"] == bytes([2]) * 52 and t["pair"] == [b"aa", b"b"]
    assert t["label"].dtype == torch.int64 and int(t["label"]) == 2000 and t["raw"].shape == (2, 2)
    b = to_torch(dec.decode_batch(_recs(5)))
    assert b["img"] == [bytes([i]) * (50 + i % 3) for i in range(5)] and b["pair"][3] == [b"aaa", b"b"]
    v = to_torch(ExampleDecoder({"v": VarLenFeature("int64")}).decode_batch(
        [make_example({"v": list(range(i))}).SerializeToString() for i in range(3)]))
    assert [x.tolist() for x in v["v"]] == [[], [0], [0, 1]] and all(isinstance(x, torch.Tensor) for x in v["v"])


def test_record_converter_equals_generic_to_torch_without_warnings():
    dec = ExampleDecoder(SPEC)
    fast = record_to_torch(ExampleDecoder(SPEC))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. torch's "non-writable array" warning
        for rec in _recs(12) * 2:  # the second pass goes through the plans
            want, got = to_torch(dec(rec)), fast(rec)
            assert got.keys() == want.keys()
            for k in want:
                if isinstance(want[k], torch.Tensor):
                    assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
                else:
                    assert got[k] == want[k] and type(got[k]) is type(want[k]), k


def test_collate_equals_default_collate():
    dec = ExampleDecoder(SPEC)
    rows = [dec(r) for r in _recs(9)]
    got = collate(rows)
    want = default_collate([to_torch(r) for r in rows])
    for k in SPEC:
        if isinstance(want[k], torch.Tensor):
            assert got[k].dtype == want[k].dtype and torch.equal(got[k], want[k]), k
    assert got["img"] == want["img"] == [bytes([i]) * (50 + i % 3) for i in range(9)]
    assert got["pair"] == [[b"a" * i, b"b"] for i in range(9)]  # per record (default_collate transposes)
    var = collate([{"v": np.arange(i)} for i in range(3)])
    assert [t.tolist() for t in var["v"]] == [[], [0], [0, 1]]
    assert collate([]) == {}


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("mode", ["torch-default", "numpy-collate", "batched"])
def test_dataloader_two_workers_with_bytes(tmp_path, mode):
    recs = _recs(40)
    p = tmp_path / "b.tfrecord"
    write_records(p, recs)
    if mode == "batched":
        ds = TFRecordDataset(p, decode=SPEC, batch_size=6, output="torch")
        loader = DataLoader(ds, batch_size=None, num_workers=2, multiprocessing_context="fork")
    else:
        ds = TFRecordDataset(p, decode=SPEC, output="torch" if mode == "torch-default" else "numpy")
        loader = DataLoader(ds, batch_size=6, num_workers=2, multiprocessing_context="fork",
                            collate_fn=collate if mode == "numpy-collate" else None)
    batches = list(loader)
    labels = torch.cat([b["label"] for b in batches])
    order = np.argsort(labels.numpy())
    assert labels[order].tolist() == [i * 1000 for i in range(40)]  # each record once, none lost
    imgs = [im for b in batches for im in b["img"]]
    assert [imgs[i] for i in order] == [bytes([i]) * (50 + i % 3) for i in range(40)]
    ws = torch.cat([b["w"] for b in batches])[order].tolist()
    assert ws == [0.5 if i % 4 == 0 else float(i) for i in range(40)]
    assert all(b["x"].dtype == torch.float32 and b["x"].shape[1:] == (4,) for b in batches)


def _damaged(tmp_path, n=40, k=23):
    """A package-style file (bytes + int64 + floats) with one data byte of record ``k`` flipped."""
    from danlu.data.tfrecord import read_records

    p = tmp_path / "bad.tfrecord"
    write_records(p, _recs(n))
    offs = [o for o, _ in read_records(p, with_offsets=True)]
    raw = bytearray(p.read_bytes())
    raw[offs[k] + 12 + 40] ^= 0x04
    p.write_bytes(bytes(raw))
    return p, offs[k]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("path_kind", ["records", "batched", "loader-2-workers", "loader-batched"])
def test_corrupt_record_is_reported_with_file_and_offset_on_every_path(tmp_path, path_kind):
    from danlu.data.tfrecord import CorruptRecordError

    p, off = _damaged(tmp_path)
    batched = path_kind in ("batched", "loader-batched")
    ds = TFRecordDataset(p, decode=SPEC, batch_size=8 if batched else None, output="torch")
    it = iter(ds if not path_kind.startswith("loader") else DataLoader(
        ds, batch_size=None if batched else 4, num_workers=2, multiprocessing_context="fork"))
    try:
        with pytest.raises(CorruptRecordError) as ei:
            for _ in it:
                pass
    finally:  # stop the workers now (left to the garbage collector, the next test waits ~10 s for them)
        getattr(it, "_shutdown_workers", lambda: None)()
    err = ei.value
    assert (err.path, err.offset) == (str(p), off) and "data CRC mismatch" in err.reason
    assert str(err).startswith(f"{p}: offset {off}: data CRC mismatch")


def test_corrupt_record_error_survives_pickling_and_one_message_rebuilds():
    import pickle

    from danlu.data.tfrecord import CorruptRecordError

    e = CorruptRecordError("/d/a: b.tfrecord", 1234, "data CRC mismatch (7-byte record)")
    back = pickle.loads(pickle.dumps(e))
    assert (back.path, back.offset, back.reason, str(back)) == (e.path, e.offset, e.reason, str(e))
    worker = ("Caught CorruptRecordError in DataLoader worker process 1.\nOriginal Traceback (most recent call last):\n"
              '  File "x.py", line 1, in f\ndanlu.data.tfrecord.errors.CorruptRecordError: ' + str(e) + "\n")
    again = CorruptRecordError(worker)
    assert (again.path, again.offset, again.reason) == (e.path, e.offset, e.reason)
    other = CorruptRecordError("something else")
    assert (other.path, other.offset, str(other)) == ("", -1, "something else")


def test_batch_pickles_small_tensors_inline_and_large_ones_by_shared_memory(monkeypatch):
    """Out of a DataLoader worker (ForkingPickler) a Decoded's tensors travel inside the pickle; a plain
    dict's go to shared memory (one file each). Values, dtypes and the bytes list survive."""
    from multiprocessing.reduction import ForkingPickler

    import danlu.data.tfrecord.convert as C

    small = {"x": torch.arange(12, dtype=torch.float32).reshape(3, 4), "y": torch.tensor([1, 2, 3]),
             "img": [b"a", b"bc", b"d"]}
    plain = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in small.items()}
    ForkingPickler.dumps(plain)
    assert plain["x"].is_shared()  # the default: moved to shared memory
    batch = C.Decoded({k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in small.items()})
    back = ForkingPickler.loads(ForkingPickler.dumps(batch))
    assert type(back) is C.Decoded and not batch["x"].is_shared()
    for k in ("x", "y"):
        assert back[k].dtype == small[k].dtype and torch.equal(back[k], small[k])
    assert back["img"] == small["img"]
    monkeypatch.setattr(C, "INLINE_MAX", 40)  # x is 48 bytes: over the limit, shared as usual
    big = C.Decoded({"x": small["x"].clone(), "y": small["y"].clone()})
    back = ForkingPickler.loads(ForkingPickler.dumps(big))
    assert big["x"].is_shared() and not big["y"].is_shared() and torch.equal(back["x"], small["x"])


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("output", ["numpy", "torch"])
def test_default_collate_of_dataset_records_is_a_decoded_batch(tmp_path, output):
    from danlu.data.tfrecord.convert import Decoded

    p = tmp_path / "d.tfrecord"
    write_records(p, _recs(20))
    # numpy output: default_collate refuses numpy object arrays (bytes features); torch output has bytes
    spec = SPEC if output == "torch" else {k: v for k, v in SPEC.items() if k not in ("img", "pair")}
    ds = TFRecordDataset(p, decode=spec, output=output)
    assert all(type(r) is Decoded for r in ds)
    batches = list(DataLoader(ds, batch_size=8, num_workers=2, multiprocessing_context="fork"))
    assert all(type(b) is Decoded for b in batches) and sorted(len(b["label"]) for b in batches) == [2, 2, 8, 8]
    assert sorted(torch.cat([b["label"] for b in batches]).tolist()) == [i * 1000 for i in range(20)]
