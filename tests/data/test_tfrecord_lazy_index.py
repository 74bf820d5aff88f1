"""TFRecordDataset(split="records") builds its record index only when it needs one: a lone consumer
reads every shard whole (no header scan), several consumers split by the index, and num_records
builds it; index files given by the user are read at construction."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from danlu.data.tfrecord import FixedLenFeature, TFRecordDataset, create_index, make_example, write_records
from danlu.data.tfrecord import dataset as D
from danlu.errors import DanluError

SPEC = {"id": FixedLenFeature([], "int64")}


def _files(tmp_path):
    paths, k = [], 0
    for s, n in enumerate([5, 0, 9]):
        p = tmp_path / f"s{s}.tfrecord"
        write_records(p, [make_example({"id": k + i}) for i in range(n)], compression="gzip" if s == 2 else None)
        paths.append(p)
        k += n
    return paths


def test_single_consumer_reads_without_an_index(tmp_path, monkeypatch):
    paths = _files(tmp_path)
    scans = []
    real = D.build_index
    monkeypatch.setattr(D, "build_index", lambda *a, **kw: scans.append(a[0]) or real(*a, **kw))
    ds = TFRecordDataset(paths, decode=SPEC)
    assert [int(x["id"]) for x in ds] == list(range(14)) and scans == []
    assert [len(b["id"]) for b in TFRecordDataset(paths, decode=SPEC, batch_size=4)] == [4, 4, 4, 2] and scans == []
    halves = [[int(x["id"]) for x in TFRecordDataset(paths, decode=SPEC, rank=r, world_size=2)] for r in range(2)]
    assert halves == [list(range(7)), list(range(7, 14))] and len(scans) == 2 * 3  # one scan per shard per dataset
    assert ds.num_records == 14 and len(scans) == 9


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_workers_build_the_index_and_split_the_records(tmp_path):
    paths = _files(tmp_path)
    ds = TFRecordDataset(paths, decode=SPEC)
    got = [int(i) for b in DataLoader(ds, batch_size=3, num_workers=2, multiprocessing_context="fork")
           for i in b["id"]]
    assert sorted(got) == list(range(14)) and len(got) == 14


def test_index_files_are_read_at_construction(tmp_path):
    paths = _files(tmp_path)[:1]
    create_index(paths[0])
    (tmp_path / "bad.index").write_text("1 2 3\n")
    with pytest.raises(DanluError, match="expected 2 columns"):
        TFRecordDataset(paths, index_paths=[tmp_path / "bad.index"])
    ds = TFRecordDataset(paths, decode=SPEC, index_paths=[str(paths[0]) + ".index"])
    assert ds.num_records == 5 and torch.tensor([int(x["id"]) for x in ds]).tolist() == list(range(5))
