"""Benchmark: read + parse TFRecord Examples to numpy, danlu (CRC verified) vs the `tfrecord` package.

    python benchmarks/tfrecord_read.py                 # 200k Examples, 8 shards (the issue's setting)
    python benchmarks/tfrecord_read.py --n 20000       # smaller

Each Example: an image-sized bytes feature (32x32x3 = 3072 raw bytes), an int64 label, an int64
id and a 4-float vector. Both readers get the same files, one process, one core, sequential,
warm page cache (each is run once to warm up, then timed over --repeats interleaved runs; best
CPU and wall time kept).
danlu verifies both CRCs of every record; `tfrecord` (vahidk) verifies none. TensorFlow's
TFRecordDataset + parse_example is added when tensorflow is importable.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time

import numpy as np


def write_shards(folder: str, n: int, shards: int, seed: int = 0) -> list[str]:
    from danlu.data.tfrecord import TFRecordWriter, make_example

    rng = np.random.default_rng(seed)
    paths = [os.path.join(folder, f"shard-{s:02d}.tfrecord") for s in range(shards)]
    per = [n // shards + (s < n % shards) for s in range(shards)]
    img = rng.integers(0, 256, size=(256, 3072), dtype=np.uint8)
    i = 0
    for path, m in zip(paths, per):
        with TFRecordWriter(path) as w:
            for _ in range(m):
                w.write(make_example({"image": img[i % 256].tobytes(), "label": int(i % 10), "id": i,
                                      "x": rng.random(4).astype(np.float32).tolist()}))
                i += 1
    return paths


def _decoder():
    from danlu.data.tfrecord import ExampleDecoder, FixedLenFeature, RawFeature

    return ExampleDecoder({"image": RawFeature([32, 32, 3], "uint8"), "label": FixedLenFeature([], "int64"),
                           "id": FixedLenFeature([], "int64"), "x": FixedLenFeature([4], "float32")})


def read_danlu_batched(paths: list[str], batch: int = 256) -> int:
    """Batches of 256 records decoded at once (like tf.data's batch -> parse_example): stacked arrays."""
    from danlu.data.tfrecord import read_records

    dec = _decoder()
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


def read_danlu(paths: list[str]) -> int:
    """One record at a time: a dict of arrays per Example (the same output as the tfrecord package)."""
    from danlu.data.tfrecord import read_records

    dec = _decoder()
    n = 0
    for p in paths:
        for rec in read_records(p, compression=None, verify=True):
            d = dec(rec)
            n += d["label"].size
    return n


def read_peer(paths: list[str]) -> int:
    from tfrecord.reader import tfrecord_loader

    desc = {"image": "byte", "label": "int", "id": "int", "x": "float"}
    n = 0
    for p in paths:
        for d in tfrecord_loader(p, None, desc):
            img = np.frombuffer(d["image"], np.uint8).reshape(32, 32, 3)  # noqa: F841  = danlu RawFeature
            n += d["label"].size
    return n


def read_tf(paths: list[str]) -> int:
    import tensorflow as tf

    desc = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.int64),
            "id": tf.io.FixedLenFeature([], tf.int64), "x": tf.io.FixedLenFeature([4], tf.float32)}
    n = 0
    for batch in tf.data.TFRecordDataset(paths).batch(256).map(lambda r: tf.io.parse_example(r, desc)):
        img = tf.reshape(tf.io.decode_raw(batch["image"], tf.uint8), (-1, 32, 32, 3)).numpy()  # noqa: F841
        n += batch["label"].numpy().size
    return n


def measure(rows, paths, repeats: int, n: int) -> dict[str, tuple[float, float]]:
    """Best (wall, CPU) seconds per reader. Readers are interleaved repeat by repeat, so a burst of
    load from other processes hits all of them alike; CPU time (time.process_time) is the fairer
    figure on a shared machine, wall time is printed beside it."""
    for _, fn in rows:
        fn(paths)  # warm-up (page cache, imports)
    best = {name: (float("inf"), float("inf")) for name, _ in rows}
    for _ in range(repeats):
        for name, fn in rows:
            w0, c0 = time.perf_counter(), time.process_time()
            got = fn(paths)
            w, c = time.perf_counter() - w0, time.process_time() - c0
            assert got == n, (name, got)
            best[name] = (min(best[name][0], w), min(best[name][1], c))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000, help="number of Examples (default 200000)")
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--dir", default=None, help="where to write the shards (default: a temp dir)")
    args = ap.parse_args()
    from google.protobuf.internal import api_implementation

    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        t0 = time.perf_counter()
        paths = write_shards(folder, args.n, args.shards)
        size = sum(os.path.getsize(p) for p in paths)
        print(f"wrote {args.n} Examples, {args.shards} shards, {size / 2**20:.0f} MiB in {time.perf_counter() - t0:.1f} s; "
              f"protobuf backend: {api_implementation.Type()}; cpu: {platform.processor() or platform.machine()}")
        rows = [("danlu per record (CRC verified)", read_danlu),
                ("danlu batched x256 (CRC verified)", read_danlu_batched),
                ("tfrecord pkg per record (no CRC)", read_peer)]
        try:
            import tensorflow  # noqa: F401

            rows.append(("tensorflow TFRecordDataset", read_tf))
        except ImportError:
            print("tensorflow not installed: its row is skipped")
        res = measure(rows, paths, args.repeats, args.n)
        pw, pc = res["tfrecord pkg per record (no CRC)"]
        print("\n| reader | CPU s | records/s (CPU) | speed vs tfrecord pkg (CPU) | wall s | speed (wall) |\n"
              "|---|---|---|---|---|---|")
        for name, (w, c) in res.items():
            print(f"| {name} | {c:.2f} | {args.n / c:,.0f} | {pc / c:.2f}x | {w:.2f} | {pw / w:.2f}x |")


if __name__ == "__main__":
    main()
