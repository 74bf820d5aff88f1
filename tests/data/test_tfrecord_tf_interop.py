"""Interop with TensorFlow itself (skipped when tensorflow is not installed): TF-written files read back
identically in danlu, and danlu-written files read in TF, for every compression."""

from __future__ import annotations

import pytest

tf = pytest.importorskip("tensorflow")

from danlu.data.tfrecord import make_example, read_records, record_to_dict, write_records  # noqa: E402

COMPS = [(None, ""), ("gzip", "GZIP"), ("zlib", "ZLIB")]


@pytest.mark.parametrize("ours, theirs", COMPS)
def test_tf_writes_danlu_reads(tmp_path, ours, theirs):
    p = str(tmp_path / "tf.tfrecord")
    exs = []
    with tf.io.TFRecordWriter(p, options=tf.io.TFRecordOptions(compression_type=theirs)) as w:
        for i in range(20):
            ex = tf.train.Example(features=tf.train.Features(feature={
                "i": tf.train.Feature(int64_list=tf.train.Int64List(value=[i, -i])),
                "f": tf.train.Feature(float_list=tf.train.FloatList(value=[i / 3])),
                "b": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"x" * i]))}))
            exs.append(ex.SerializeToString())
            w.write(exs[-1])
    assert list(read_records(p)) == exs
    assert record_to_dict(exs[5])["i"] == {"int64": [5, -5]}


@pytest.mark.parametrize("ours, theirs", COMPS)
def test_danlu_writes_tf_reads(tmp_path, ours, theirs):
    p = str(tmp_path / "danlu.tfrecord")
    recs = [make_example({"i": [i], "f": [i / 7], "b": b"y" * i}).SerializeToString() for i in range(20)]
    write_records(p, recs, compression=ours)
    got = [r.numpy() for r in tf.data.TFRecordDataset(p, compression_type=theirs)]
    assert got == recs
    parsed = tf.io.parse_single_example(recs[3], {"i": tf.io.FixedLenFeature([], tf.int64)})
    assert int(parsed["i"]) == 3
