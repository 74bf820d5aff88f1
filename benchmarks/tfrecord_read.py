"""Benchmark: read + parse TFRecord Examples, danlu (CRC verified) vs the `tfrecord` package, on the paths users take.

    python benchmarks/tfrecord_read.py                    # 100k records per file, best of 5
    python benchmarks/tfrecord_read.py --n 20000 --repeats 3
    python benchmarks/tfrecord_read.py --only pkg loader  # some groups (core pkg loader tf-order tf-unpacked varsize)

Files (each --n records, written once into a temp dir, read from the warm page cache):

* core: danlu's writer, 8 shards; an image as a 3072-byte bytes feature read as
  ``RawFeature([32, 32, 3])``, an int64 label, an int64 id, 4 floats. ``read_records`` + ``ExampleDecoder``.
* pkg: the ``tfrecord`` package's own writer; a 3072-byte bytes feature read as
  ``FixedLenFeature([], "bytes")``, an int64, 4 floats. Read through ``TFRecordDataset`` (the path the
  docs show), per record and with ``batch_size=256``.
* loader: the pkg file through ``torch.utils.data.DataLoader(num_workers=2, batch_size=256)``
  (default collate, or danlu's ``collate``), or danlu's ``batch_size=256`` in the dataset with
  ``DataLoader(batch_size=None)``; the package gets its own index so its two workers split the
  file (without one, each reads all of it).
  A transport-only row (one ready batch replayed as often as the file has batches, through the
  same DataLoader) shows the DataLoader's own cost, the floor under both readers.
* tf-order / tf-unpacked: TensorFlow-style bytes serialized by hand (TF is not needed): map entries
  in one of 6 orders per record (writers whose maps iterate in hash order), or every repeated
  number unpacked (a tag per value, as proto2 writers without ``packed`` write them).
* varsize: the package's writer with a bytes feature of 2,000 to 4,000 bytes (like encoded JPEGs):
  record lengths rarely repeat, so danlu's per-layout plans switch off and the general path reads.

Every pair runs in this process, interleaved repeat by repeat (danlu, package, danlu, ...), so a
burst of load from other processes hits both alike; the best of --repeats is kept. Rows report CPU
time (``time.process_time`` plus the DataLoader workers' CPU time, from ``getrusage`` once they are
joined; fairer on a shared machine) and wall time. danlu checks both CRCs of every record; the
`tfrecord` package (vahidk) checks none. Every reader's output is checked against the package's on
the first records before timing.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import struct
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch

N_IMG = 3072


# ----------------------------------------------------------------------------- files

def write_danlu_shards(folder: str, n: int, shards: int = 8, seed: int = 0) -> list[str]:
    from danlu.data.tfrecord import TFRecordWriter, make_example

    rng = np.random.default_rng(seed)
    paths = [os.path.join(folder, f"shard-{s:02d}.tfrecord") for s in range(shards)]
    per = [n // shards + (s < n % shards) for s in range(shards)]
    img = rng.integers(0, 256, size=(256, N_IMG), dtype=np.uint8)
    i = 0
    for path, m in zip(paths, per):
        with TFRecordWriter(path) as w:
            for _ in range(m):
                w.write(make_example({"image": img[i % 256].tobytes(), "label": int(i % 10), "id": i,
                                      "x": rng.random(4).astype(np.float32).tolist()}))
                i += 1
    return paths


def _rows(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(256, N_IMG), dtype=np.uint8)
    x = rng.random((n, 4)).astype(np.float32)
    for i in range(n):
        yield img[i % 256].tobytes(), int(i % 10), x[i]


def write_package_file(path: str, n: int) -> None:
    from tfrecord.writer import TFRecordWriter

    w = TFRecordWriter(path)
    for image, label, x in _rows(n):
        w.write({"image": (image, "byte"), "label": (label, "int"), "x": (x.tolist(), "float")})
    w.close()


def write_package_file_varsize(path: str, n: int) -> None:
    """As write_package_file, but the bytes feature has 2,000 to 4,000 bytes (like encoded JPEGs)."""
    from tfrecord.writer import TFRecordWriter

    sizes = np.random.default_rng(1).integers(2000, 4001, n)
    w = TFRecordWriter(path)
    for (image, label, x), k in zip(_rows(n), sizes):
        w.write({"image": ((image * 2)[:k], "byte"), "label": (label, "int"), "x": (x.tolist(), "float")})
    w.close()


def _varint(v: int) -> bytes:
    out = bytearray()
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _ld(tag: int, payload: bytes) -> bytes:
    return bytes([tag]) + _varint(len(payload)) + payload


def _tf_feature(kind: str, values, packed: bool) -> bytes:
    """tensorflow.Feature bytes: bytes_list 0x0a, float_list 0x12, int64_list 0x1a; packed or one tag a value."""
    if kind == "bytes":
        return _ld(0x0A, b"".join(_ld(0x0A, v) for v in values))
    if kind == "float":
        body = (_ld(0x0A, struct.pack(f"<{len(values)}f", *values)) if packed
                else b"".join(b"\x0d" + struct.pack("<f", v) for v in values))
        return _ld(0x12, body)
    body = (_ld(0x0A, b"".join(_varint(v) for v in values)) if packed
            else b"".join(b"\x08" + _varint(v) for v in values))
    return _ld(0x1A, body)


ORDERS = [("image", "label", "x"), ("image", "x", "label"), ("label", "image", "x"),
          ("label", "x", "image"), ("x", "image", "label"), ("x", "label", "image")]


def write_tf_style_file(path: str, n: int, vary_order: bool, packed: bool) -> None:
    from danlu.data.tfrecord import write_records

    def records():
        for i, (image, label, x) in enumerate(_rows(n)):
            feats = {"image": _tf_feature("bytes", [image], packed), "label": _tf_feature("int", [label], packed),
                     "x": _tf_feature("float", x.tolist(), packed)}
            order = ORDERS[(i * 7919) % 6] if vary_order else ORDERS[0]
            body = b"".join(_ld(0x0A, _ld(0x0A, k.encode()) + _ld(0x12, feats[k])) for k in order)
            yield _ld(0x0A, body)

    write_records(path, records())


# ----------------------------------------------------------------------------- readers

def _core_decoder():
    from danlu.data.tfrecord import ExampleDecoder, FixedLenFeature, RawFeature

    return ExampleDecoder({"image": RawFeature([32, 32, 3], "uint8"), "label": FixedLenFeature([], "int64"),
                           "id": FixedLenFeature([], "int64"), "x": FixedLenFeature([4], "float32")})


def core_danlu(paths: list[str]) -> int:
    """One record at a time: a dict of arrays per Example (the same output as the tfrecord package)."""
    from danlu.data.tfrecord import read_records

    dec = _core_decoder()
    n = 0
    for p in paths:
        for rec in read_records(p, compression=None, verify=True):
            n += dec(rec)["label"].size
    return n


def core_danlu_batched(paths: list[str], batch: int = 256) -> int:
    """Batches of 256 records decoded at once (like tf.data's batch -> parse_example): stacked arrays."""
    from danlu.data.tfrecord import read_records

    dec = _core_decoder()
    n = 0
    for p in paths:
        buf = []
        for rec in read_records(p, compression=None, verify=True):
            buf.append(rec)
            if len(buf) == batch:
                n += dec.decode_batch(buf)["label"].shape[0]
                buf = []
        if buf:
            n += dec.decode_batch(buf)["label"].shape[0]
    return n


def core_peer(paths: list[str]) -> int:
    from tfrecord.reader import tfrecord_loader

    desc = {"image": "byte", "label": "int", "id": "int", "x": "float"}
    n = 0
    for p in paths:
        for d in tfrecord_loader(p, None, desc):
            img = np.frombuffer(d["image"], np.uint8).reshape(32, 32, 3)  # noqa: F841  = danlu RawFeature
            n += d["label"].size
    return n


def core_tf(paths: list[str]) -> int:
    import tensorflow as tf

    desc = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64),
            "id": tf.io.FixedLenFeature([], tf.int64), "x": tf.io.FixedLenFeature([4], tf.float32)}
    n = 0
    for batch in tf.data.TFRecordDataset(paths).batch(256).map(lambda r: tf.io.parse_example(r, desc)):
        img = tf.reshape(tf.io.decode_raw(batch["image"], tf.uint8), (-1, 32, 32, 3)).numpy()  # noqa: F841
        n += batch["label"].numpy().size
    return n


def _spec():
    from danlu.data.tfrecord import FixedLenFeature

    return {"image": FixedLenFeature([], "bytes"), "label": FixedLenFeature([], "int64"),
            "x": FixedLenFeature([4], "float32")}


PKG_DESC = {"image": "byte", "label": "int", "x": "float"}


def ds_danlu(path: str, **kw) -> int:
    """danlu TFRecordDataset, per record (a dict of numpy arrays) or batch_size=... (stacked arrays)."""
    from danlu.data.tfrecord import TFRecordDataset

    ds = TFRecordDataset(path, decode=_spec(), **kw)  # builds the record index here (split="records")
    if kw.get("batch_size"):
        return sum(len(b["label"]) for b in ds)
    n = 0
    for _ in ds:
        n += 1
    return n


def ds_peer(path: str) -> int:
    from tfrecord.torch.dataset import TFRecordDataset

    n = 0
    for _ in TFRecordDataset(path, None, PKG_DESC):
        n += 1
    return n


def _loader(ds, **kw):
    return torch.utils.data.DataLoader(ds, num_workers=2, multiprocessing_context="fork", **kw)


def loader_danlu(path: str) -> int:
    """danlu per record (output="torch") + DataLoader(batch_size=256, num_workers=2), default collate."""
    from danlu.data.tfrecord import TFRecordDataset

    ds = TFRecordDataset(path, decode=_spec(), output="torch")
    return sum(len(b["label"]) for b in _loader(ds, batch_size=256))


def loader_danlu_collate(path: str) -> int:
    """danlu per record (output="numpy") + DataLoader(batch_size=256, num_workers=2, collate_fn=danlu's collate)."""
    from danlu.data.tfrecord import TFRecordDataset
    from danlu.data.tfrecord.convert import collate

    ds = TFRecordDataset(path, decode=_spec())
    return sum(len(b["label"]) for b in _loader(ds, batch_size=256, collate_fn=collate))


def loader_danlu_batched(path: str) -> int:
    """danlu TFRecordDataset(batch_size=256, output="torch") + DataLoader(batch_size=None, num_workers=2)."""
    from danlu.data.tfrecord import TFRecordDataset

    ds = TFRecordDataset(path, decode=_spec(), output="torch", batch_size=256)
    return sum(len(b["label"]) for b in _loader(ds, batch_size=None))


def loader_peer(path: str) -> int:
    from tfrecord.torch.dataset import TFRecordDataset

    ds = TFRecordDataset(path, path + ".index", PKG_DESC)  # its index splits the file between workers
    return sum(len(b["label"]) for b in _loader(ds, batch_size=256))


class _Replay(torch.utils.data.IterableDataset):
    """Yields ready batches, split between the workers: the DataLoader's own cost, no reading."""

    def __init__(self, batches: list) -> None:
        super().__init__()
        self.batches = batches

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        k, w = (info.num_workers, info.id) if info else (1, 0)
        yield from self.batches[w::k]


def make_transport(path: str, n: int) -> Callable[[str], int]:
    """The first batch danlu's batched dataset yields for ``path``, replayed through DataLoader(num_workers=2)
    as many times as the file has batches (one batch object: 300 MB of distinct ready batches in this
    process would make every fork, and the workers' garbage collector, dearer for every DataLoader row)."""
    from danlu.data.tfrecord import TFRecordDataset
    from danlu.data.tfrecord.convert import Decoded

    batch = next(iter(TFRecordDataset(path, decode=_spec(), output="torch", batch_size=256)))
    full, rest = divmod(n, 256)
    batches = [batch] * full + ([Decoded({k: v[:rest] for k, v in batch.items()})] if rest else [])
    ds = _Replay(batches)

    def transport(_path: str) -> int:
        return sum(len(b["label"]) for b in _loader(ds, batch_size=None))

    return transport


# ----------------------------------------------------------------------------- checks and timing

def check_same(path: str, k: int = 300) -> None:
    """danlu's dataset rows (per record and batched) == the package's loader on the first k records."""
    import itertools

    from tfrecord.reader import tfrecord_loader

    from danlu.data.tfrecord import TFRecordDataset

    want = list(itertools.islice(tfrecord_loader(path, None, PKG_DESC), k))
    got = list(itertools.islice(TFRecordDataset(path, decode=_spec()), k))
    batch = next(iter(TFRecordDataset(path, decode=_spec(), batch_size=k)))
    for i, (g, w) in enumerate(zip(got, want)):
        assert g["image"][()] == w["image"] == batch["image"][i], (path, i)
        assert int(g["label"]) == int(w["label"][0]) == int(batch["label"][i]), (path, i)
        assert np.array_equal(g["x"], w["x"]) and np.array_equal(batch["x"][i], w["x"]), (path, i)
    assert len(got) == len(want) == k


def cpu_seconds() -> float:
    """CPU time of this process plus its reaped children (DataLoader workers, once they are joined)."""
    ch = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + ch.ru_utime + ch.ru_stime


def measure(pairs, repeats: int, n: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds per reader, readers interleaved repeat by repeat after one warm-up run.
    CPU counts the DataLoader workers too (they are joined when their loop ends)."""
    fns = {}
    for _, rows in pairs:
        for name, fn, arg in rows:
            fns[name] = (fn, arg)
    for name, (fn, arg) in fns.items():
        got = fn(arg)  # warm-up (page cache, imports, worker start-up code paths)
        assert got == n, (name, got, n)
    best = {name: (float("inf"), float("inf")) for name in fns}
    for _ in range(repeats):
        for name, (fn, arg) in fns.items():
            w0, c0 = time.perf_counter(), cpu_seconds()
            got = fn(arg)
            w, c = time.perf_counter() - w0, cpu_seconds() - c0
            assert got == n, (name, got)
            best[name] = (min(best[name][0], w), min(best[name][1], c))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000, help="records per file (default 100000)")
    ap.add_argument("--repeats", type=int, default=5, help="timed runs per reader; the best is kept (default 5)")
    ap.add_argument("--only", nargs="*", default=None, choices=["core", "pkg", "loader", "tf-order", "tf-unpacked", "varsize"])
    ap.add_argument("--dir", default=None, help="where to write the files (default: a temp dir)")
    args = ap.parse_args()
    groups = args.only or ["core", "pkg", "loader", "tf-order", "tf-unpacked", "varsize"]
    from google.protobuf.internal import api_implementation
    from tfrecord.tools.tfrecord2idx import create_index

    torch.set_num_threads(1)
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        t0 = time.perf_counter()
        pkg = os.path.join(folder, "pkg.tfrecord")
        tf_order = os.path.join(folder, "tf-order.tfrecord")
        tf_unpacked = os.path.join(folder, "tf-unpacked.tfrecord")
        core = write_danlu_shards(folder, args.n) if "core" in groups else []
        if {"pkg", "loader"} & set(groups):
            write_package_file(pkg, args.n)
            create_index(pkg, pkg + ".index")
            check_same(pkg)
        varsize = os.path.join(folder, "varsize.tfrecord")
        if "varsize" in groups:
            write_package_file_varsize(varsize, args.n)
            check_same(varsize)
        if "tf-order" in groups:
            write_tf_style_file(tf_order, args.n, vary_order=True, packed=True)
            check_same(tf_order)
        if "tf-unpacked" in groups:
            write_tf_style_file(tf_unpacked, args.n, vary_order=False, packed=False)
            check_same(tf_unpacked)
        print(f"wrote {args.n} records per file in {time.perf_counter() - t0:.1f} s; protobuf backend: "
              f"{api_implementation.Type()}; cpu: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores; load average at start {load0[0]:.1f} / {load0[1]:.1f} (1 / 5 min)")
        pairs = []  # (what, [(name, fn, arg), ...]); the last row of each pair is the package
        if "core" in groups:
            pairs.append(("danlu-written file (RawFeature image), read_records + ExampleDecoder", [
                ("core: danlu per record", core_danlu, core), ("core: danlu batched x256", core_danlu_batched, core),
                ("core: tfrecord pkg per record", core_peer, core)]))
        if "pkg" in groups:
            pairs.append(("tfrecord-package-written file, TFRecordDataset", [
                ("pkg: danlu TFRecordDataset per record", ds_danlu, pkg),
                ("pkg: danlu TFRecordDataset batch_size=256", lambda p: ds_danlu(p, batch_size=256), pkg),
                ("pkg: tfrecord pkg TFRecordDataset", ds_peer, pkg)]))
        if "tf-order" in groups:
            pairs.append(("TF-style file, key order varies per record (6 orders)", [
                ("tf-order: danlu per record", ds_danlu, tf_order),
                ("tf-order: danlu batch_size=256", lambda p: ds_danlu(p, batch_size=256), tf_order),
                ("tf-order: tfrecord pkg", ds_peer, tf_order)]))
        if "tf-unpacked" in groups:
            pairs.append(("TF-style file, unpacked repeated fields", [
                ("tf-unpacked: danlu per record", ds_danlu, tf_unpacked),
                ("tf-unpacked: danlu batch_size=256", lambda p: ds_danlu(p, batch_size=256), tf_unpacked),
                ("tf-unpacked: tfrecord pkg", ds_peer, tf_unpacked)]))
        if "varsize" in groups:
            pairs.append(("tfrecord-package-written file, bytes feature of 2,000-4,000 bytes", [
                ("varsize: danlu per record", ds_danlu, varsize),
                ("varsize: danlu batch_size=256", lambda p: ds_danlu(p, batch_size=256), varsize),
                ("varsize: tfrecord pkg", ds_peer, varsize)]))
        if "loader" in groups:
            pairs.append(("tfrecord-package-written file, DataLoader(num_workers=2)", [
                ("loader: danlu per record, DataLoader batch_size=256", loader_danlu, pkg),
                ("loader: danlu per record, DataLoader batch_size=256, collate_fn=collate", loader_danlu_collate, pkg),
                ("loader: danlu batch_size=256 in the dataset", loader_danlu_batched, pkg),
                ("loader: transport only (a ready batch, replayed)", make_transport(pkg, args.n), pkg),
                ("loader: tfrecord pkg, DataLoader batch_size=256", loader_peer, pkg)]))
        try:
            import tensorflow  # noqa: F401

            if "core" in groups:
                pairs[0][1].insert(2, ("core: tensorflow TFRecordDataset", core_tf, core))
        except ImportError:
            print("tensorflow not installed: its row is skipped")
        res = measure(pairs, args.repeats, args.n)
        load1 = os.getloadavg()
        print(f"load average at end {load1[0]:.1f} / {load1[1]:.1f} (1 / 5 min); best of {args.repeats}\n")
        print("| path | reader | CPU s | records/s (CPU) | speed vs tfrecord pkg (CPU) | wall s | speed (wall) |\n"
              "|---|---|---|---|---|---|---|")
        for what, rows in pairs:
            pw, pc = res[rows[-1][0]]
            for name, _, _ in rows:
                w, c = res[name]
                print(f"| {what} | {name.split(': ', 1)[1]} | {c:.2f} | {args.n / c:,.0f} | {pc / c:.2f}x | {w:.2f} "
                      f"| {pw / w:.2f}x |")


if __name__ == "__main__":
    main()
