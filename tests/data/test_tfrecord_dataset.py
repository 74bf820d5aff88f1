"""TFRecord datasets: every record exactly once across DataLoader workers x DDP ranks, seeded shuffling,
map-style random access (compared with a sequential read)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from danlu.data.tfrecord import (
    CorruptRecordError,
    FixedLenFeature,
    TFRecordDataset,
    TFRecordIndexedDataset,
    create_index,
    make_example,
    write_records,
)
from danlu.errors import DanluError

SIZES = [7, 1, 13, 0, 4]  # five uneven shards (one empty)


def _shards(tmp_path, comps=(None, "gzip", None, "zlib", None)):
    paths, k = [], 0
    for s, (n, comp) in enumerate(zip(SIZES, comps)):
        p = tmp_path / f"shard-{s}.tfrecord"
        write_records(p, [make_example({"id": k + i}) for i in range(n)], compression=comp)
        paths.append(p)
        k += n
    return paths


SPEC = {"id": FixedLenFeature([], "int64")}


def _ids(ds, workers: int) -> list[int]:
    loader = DataLoader(ds, batch_size=None, num_workers=workers,
                        multiprocessing_context="fork" if workers else None)
    return [int(x["id"]) for x in loader]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
@pytest.mark.parametrize("split", ["records", "shards"])
def test_three_workers_two_ranks_each_record_exactly_once(tmp_path, split):
    paths = _shards(tmp_path)
    seen = []
    per_rank = []
    for rank in range(2):
        ds = TFRecordDataset(paths, decode=SPEC, rank=rank, world_size=2, split=split)
        ids = _ids(ds, workers=3)
        per_rank.append(ids)
        seen += ids
    counts = collections.Counter(seen)
    assert sorted(counts) == list(range(sum(SIZES)))  # no gaps
    assert max(counts.values()) == 1  # no duplicates
    if split == "records":  # balanced: 25 records over 6 consumers -> 12 or 13 per rank
        assert sorted(len(r) for r in per_rank) == [12, 13]


def test_consumers_without_dataloader_split_the_same_way(tmp_path):
    paths = _shards(tmp_path)
    ds_all = TFRecordDataset(paths, decode=SPEC)
    assert [int(x["id"]) for x in ds_all] == list(range(sum(SIZES)))
    assert ds_all.num_records == sum(SIZES)


def test_shuffle_is_seeded_and_complete(tmp_path):
    paths = _shards(tmp_path)
    a = [int(x["id"]) for x in TFRecordDataset(paths, decode=SPEC, shuffle_buffer=8, seed=1)]
    b = [int(x["id"]) for x in TFRecordDataset(paths, decode=SPEC, shuffle_buffer=8, seed=1)]
    c = [int(x["id"]) for x in TFRecordDataset(paths, decode=SPEC, shuffle_buffer=8, seed=2)]
    assert a == b and a != c and sorted(a) == list(range(sum(SIZES))) and a != sorted(a)
    ds = TFRecordDataset(paths, decode=SPEC, shuffle_buffer=8, seed=1)
    ds.set_epoch(1)
    assert [int(x["id"]) for x in ds] != a


def test_shuffled_workers_still_exactly_once(tmp_path):
    paths = _shards(tmp_path)
    ds = TFRecordDataset(paths, decode=SPEC, shuffle_buffer=5, seed=0, rank=1, world_size=2)
    ids = _ids(ds, workers=2)
    ds0 = TFRecordDataset(paths, decode=SPEC, shuffle_buffer=5, seed=0, rank=0, world_size=2)
    ids += _ids(ds0, workers=2)
    assert sorted(ids) == list(range(sum(SIZES)))


def test_torch_output_and_batching(tmp_path):
    p = tmp_path / "t.tfrecord"
    write_records(p, [make_example({"x": [float(i), 1.0], "y": i}) for i in range(10)])
    ds = TFRecordDataset(p, decode={"x": FixedLenFeature([2], "float32"), "y": FixedLenFeature([], "int64")},
                         output="torch")
    batches = list(DataLoader(ds, batch_size=4))
    assert batches[0]["x"].shape == (4, 2) and batches[0]["y"].dtype == torch.int64
    assert torch.cat([b["y"] for b in batches]).tolist() == list(range(10))


def test_indexed_dataset_random_access(tmp_path):
    paths = _shards(tmp_path)
    idx_paths = []
    for p in paths:
        create_index(p)
        idx_paths.append(str(p) + ".index")
    seq = [int(x["id"]) for x in TFRecordDataset(paths, decode=SPEC)]
    for kw in ({}, {"index_paths": idx_paths}):
        ds = TFRecordIndexedDataset(paths, decode=SPEC, **kw)
        assert len(ds) == sum(SIZES)
        order = np.random.default_rng(0).permutation(len(ds))
        assert [int(ds[int(i)]["id"]) for i in order] == [seq[i] for i in order]
        assert int(ds[-1]["id"]) == seq[-1]
        with pytest.raises(IndexError):
            ds[len(ds)]
    loader = DataLoader(TFRecordIndexedDataset(paths, decode=SPEC), batch_size=5, shuffle=True, num_workers=2,
                        multiprocessing_context="fork")
    assert sorted(torch.cat([b["id"] for b in loader]).tolist()) == seq


def test_indexed_dataset_detects_corruption(tmp_path):
    p = tmp_path / "c.tfrecord"
    write_records(p, [b"aaaa", b"bbbb", b"cccc"])
    ds = TFRecordIndexedDataset(p)
    data = bytearray(p.read_bytes())
    data[20 + 12 + 1] ^= 1  # data of record 1 (frames are 20 bytes)
    p.write_bytes(bytes(data))
    assert ds[0] == b"aaaa"
    with pytest.raises(CorruptRecordError, match="offset 20: data CRC"):
        ds[1]
    assert TFRecordIndexedDataset(p, verify=False)[1] != b"bbbb"


def test_bad_arguments(tmp_path):
    p = tmp_path / "x.tfrecord"
    write_records(p, [b"a"])
    with pytest.raises(DanluError, match="split must be"):
        TFRecordDataset(p, split="files")
    with pytest.raises(DanluError, match="rank must be in"):
        list(TFRecordDataset(p, rank=2, world_size=2))
    with pytest.raises(DanluError, match="decode must be"):
        TFRecordDataset(p, decode=5)
    with pytest.raises(DanluError, match="2 index files for 1"):
        TFRecordDataset(p, index_paths=["a", "b"])
    with pytest.raises(FileNotFoundError):
        TFRecordDataset(tmp_path / "missing.tfrecord")
    with pytest.raises(DanluError, match="no TFRecord files"):
        TFRecordDataset([])


def test_batched_decoding_matches_per_record(tmp_path):
    paths = _shards(tmp_path)
    per = [int(x["id"]) for x in TFRecordDataset(paths, decode=SPEC, shuffle_buffer=4, seed=3)]
    batches = list(TFRecordDataset(paths, decode=SPEC, shuffle_buffer=4, seed=3, batch_size=4, output="torch"))
    assert [len(b["id"]) for b in batches] == [4] * 6 + [1]
    assert torch.cat([b["id"] for b in batches]).tolist() == per
    with pytest.raises(DanluError, match="batch_size needs decode"):
        TFRecordDataset(paths, batch_size=4)
