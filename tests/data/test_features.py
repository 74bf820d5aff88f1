"""Feature columns vs named references: pyfarmhash (Google's FarmHash C++) for Fingerprint64, the Keras
layer docs' worked examples (Hashing, HashedCrossing, StringLookup, IntegerLookup, Discretization,
CategoryEncoding, Normalization), sklearn's StandardScaler, and a plain nn.Embedding for the combiners."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from danlu.data.features import (
    Bucketized,
    Crossed,
    Embedding,
    FeatureSet,
    HashBucket,
    Identity,
    Indicator,
    Numeric,
    Vocabulary,
    Weighted,
    fingerprint64,
    fingerprint_cat64,
    hash_bucket,
)
from danlu.errors import DanluError

farmhash = pytest.importorskip("farmhash")


def test_fingerprint64_every_length_vs_pyfarmhash():
    rng = np.random.default_rng(0)
    vals = [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in range(0, 200) for _ in range(2)]
    vals += [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in (255, 256, 257, 1000, 4097)]
    assert fingerprint64(vals).tolist() == [farmhash.fingerprint64(v) for v in vals]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=90), min_size=1, max_size=10))
def test_fingerprint64_text_vs_pyfarmhash(strings):
    assert fingerprint64(strings).tolist() == [farmhash.fingerprint64(s.encode()) for s in strings]


def test_fingerprint_cat64_by_hand():
    # FingerprintCat64 from tensorflow/core/platform/fingerprint.h, in Python ints
    def ref(a, b):
        m, M = 0xC6A4A7935BD1E995, (1 << 64) - 1
        mix = lambda v: v ^ (v >> 47)  # noqa: E731
        r = a ^ m
        r ^= (mix((b * m) & M) * m) & M
        r = (r * m) & M
        r = (mix(r) * m) & M
        return mix(r)

    a, b = np.array([1, 2**63 + 5], dtype=np.uint64), np.array([7, 2**64 - 1], dtype=np.uint64)
    assert fingerprint_cat64(a, b).tolist() == [ref(int(x), int(y)) for x, y in zip(a, b)]


def test_keras_hashing_docs():
    assert hash_bucket(["A", "B", "C", "D", "E"], 3).tolist() == [1, 0, 1, 1, 2]
    assert hash_bucket(["A", "B", "", "C", "D"], 3, mask_value="").tolist() == [1, 1, 0, 2, 2]
    col = HashBucket("s", 3)
    assert col({"s": [["A"], ["B"], ["C"], ["D"], ["E"]]}).ids.tolist() == [1, 0, 1, 1, 2]
    # integers are hashed as their decimal strings
    assert hash_bucket([42, -7], 1000).tolist() == [farmhash.fingerprint64(s) % 1000 for s in ("42", "-7")]


def test_keras_hashed_crossing_docs():
    x = Crossed(["a", "b"], num_bins=5)({"a": ["A", "B", "A", "B", "A"], "b": [101, 101, 101, 102, 102]})
    assert x.ids.tolist() == [1, 4, 1, 1, 3]


def test_crossed_multi_valued_is_the_cartesian_product():
    c = Crossed(["a", "b"], num_bins=1000)
    multi = c({"a": [["A", "B"]], "b": [[101, 102]]})
    singles = c({"a": ["A", "A", "B", "B"], "b": [101, 102, 101, 102]})
    assert multi.lengths.tolist() == [4]
    assert sorted(multi.ids.tolist()) == sorted(singles.ids.tolist())


def test_keras_string_lookup_docs():
    vocab = ["a", "b", "c", "d"]
    data = {"s": [["a", "c", "d"], ["d", "z", "b"]]}
    assert Vocabulary("s", vocab)(data).padded().tolist() == [[1, 3, 4], [4, 0, 2]]
    data2 = {"s": [["a", "c", "d"], ["m", "z", "b"]]}
    assert Vocabulary("s", vocab, num_oov_indices=2)(data2).padded().tolist() == [[2, 4, 5], [0, 1, 3]]


def test_keras_integer_lookup_docs():
    data = {"i": np.array([[12, 1138, 42], [37, 1000, 36]])}
    col = Vocabulary("i", [12, 36, 1138, 42], num_oov_indices=2)
    assert col(data).padded().tolist() == [[2, 4, 5], [1, 0, 3]]


def test_vocabulary_adapt_file_and_errors(tmp_path):
    col = Vocabulary("s")
    with pytest.raises(DanluError, match="no vocabulary yet"):
        col({"s": ["a"]})
    col.adapt({"s": ["b", "a", "c", "a", "b", "d", "a"]})
    assert col.vocabulary == ["a", "b", "c", "d"]  # by count, ties by token
    f = tmp_path / "v.txt"
    f.write_text("x\ny\n")
    assert Vocabulary("s", vocabulary_file=f)({"s": ["y", "q"]}).ids.tolist() == [2, 0]
    with pytest.raises(DanluError, match="not in the vocabulary"):
        Vocabulary("s", ["x"], num_oov_indices=0)({"s": ["q"]})
    with pytest.raises(DanluError, match="repeats the token 'x'"):
        Vocabulary("s", ["x", "x"])
    with pytest.raises(DanluError, match="no column 's'"):
        Vocabulary("s", ["x"])({"t": ["x"]})


def test_keras_discretization_docs_and_quantile_adapt():
    col = Bucketized("x", [0.0, 1.0, 2.0])
    data = {"x": np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])}
    assert col(data).padded().tolist() == [[0, 2, 3, 1], [1, 3, 2, 1]]
    ad = Bucketized("x", num_bins=4)
    ad.adapt({"x": np.arange(100.0)})
    counts = np.bincount(ad({"x": np.arange(100.0)}).ids.numpy(), minlength=4)
    assert counts.tolist() == [25, 25, 25, 25]
    with pytest.raises(DanluError, match="strictly increasing"):
        Bucketized("x", [1.0, 1.0])


def test_identity():
    assert Identity("i", 5)({"i": [0, 4, 2]}).ids.tolist() == [0, 4, 2]
    assert Identity("i", 5, default_value=0)({"i": [7, -1, 3]}).ids.tolist() == [0, 0, 3]
    with pytest.raises(DanluError, match="outside"):
        Identity("i", 5)({"i": [5]})


def test_keras_category_encoding_docs():
    d = {"i": [3, 2, 0, 1]}
    assert Indicator(Identity("i", 4), "one_hot")(d).tolist() == np.eye(4)[[3, 2, 0, 1]].tolist()
    m = {"i": [[0, 1], [0, 0], [1, 2], [3, 1]]}
    assert Indicator(Identity("i", 4), "multi_hot")(m).tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0],
                                                                    [0, 1, 0, 1]]
    assert Indicator(Identity("i", 4), "count")(m).tolist() == [[1, 1, 0, 0], [2, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]]
    w = {**m, "w": [[0.1, 0.2], [0.1, 0.1], [0.2, 0.3], [0.4, 0.2]]}
    got = Indicator(Weighted(Identity("i", 4), "w"), "count")(w)
    ref = [[0.1, 0.2, 0, 0], [0.2, 0, 0, 0], [0, 0.2, 0.3, 0], [0, 0.2, 0, 0.4]]
    assert np.allclose(got.numpy(), ref)
    with pytest.raises(DanluError, match="one_hot needs exactly one id"):
        Indicator(Identity("i", 4), "one_hot")(m)


def test_keras_normalization_docs_and_sklearn():
    from sklearn.preprocessing import StandardScaler

    col = Numeric("x", normalize=True)
    col.adapt({"x": np.array([[1.0], [2.0], [3.0]])})
    assert np.allclose(col({"x": np.array([1.0, 2.0, 3.0])}).numpy().ravel(), [-1.2247449, 0.0, 1.2247449])
    x = np.random.default_rng(0).normal(3, 2, size=(50, 3))
    col3 = Numeric("x", 3, normalize=True)
    col3.adapt({"x": x})
    assert np.allclose(col3({"x": x}).numpy(), StandardScaler().fit_transform(x), atol=1e-5)
    const = Numeric("c", normalize=True)
    const.adapt({"c": np.ones(4)})
    assert torch.isfinite(const({"c": np.ones(4)})).all()  # variance 0 -> divide by epsilon, not nan
    with pytest.raises(DanluError, match="no statistics"):
        Numeric("x", normalize=True)({"x": [1.0]})
    with pytest.raises(DanluError, match="value\\(s\\) per row"):
        Numeric("x", 2)({"x": np.ones((3, 3))})


def _dense_reference(weight, rows, weights, combiner):
    out = []
    for ids, ws in zip(rows, weights):
        if not ids:
            out.append(torch.zeros(weight.shape[1]))
            continue
        e = weight[torch.tensor(ids)] * torch.tensor(ws)[:, None]
        s = e.sum(0)
        wt = torch.tensor(ws)
        out.append({"sum": s, "mean": s / wt.sum(), "sqrtn": s / wt.pow(2).sum().sqrt()}[combiner])
    return torch.stack(out)


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
@pytest.mark.parametrize("weighted", [False, True])
def test_embedding_combiners_and_gradients_vs_reference(combiner, weighted):
    rows = [[0, 3], [2], [], [1, 1, 4]]
    ws = [[0.5, 2.0], [1.5], [], [1.0, 0.25, 3.0]] if weighted else [[1.0] * len(r) for r in rows]
    cat = Weighted(Identity("i", 5), "w") if weighted else Identity("i", 5)
    emb = Embedding(cat, dim=3, combiner=combiner)
    data = {"i": rows, "w": ws}
    out = emb(data)
    ref_w = emb.table.weight.detach().clone().requires_grad_(True)
    ref = _dense_reference(ref_w, rows, ws, combiner)
    assert torch.allclose(out, ref, atol=1e-6)
    g = torch.randn_like(out)
    (out * g).sum().backward()
    (ref * g).sum().backward()
    assert torch.allclose(emb.table.weight.grad, ref_w.grad, atol=1e-6)
    assert out[2].abs().sum() == 0  # empty row -> zeros


def test_featureset_adapt_and_state_dict_round_trip():
    rng = np.random.default_rng(0)
    data = {"age": rng.normal(40, 10, 64), "job": rng.choice(["a", "b", "c", "d"], 64).tolist(),
            "tags": [rng.choice(["x", "y", "z"], rng.integers(0, 3)).tolist() for _ in range(64)],
            "city": rng.integers(0, 10, 64)}

    def build():
        return FeatureSet([
            Numeric("age", normalize=True),
            Indicator(Bucketized("age", num_bins=4)),
            Embedding(Vocabulary("job"), dim=4),
            Embedding(HashBucket("tags", 16), dim=2, combiner="sqrtn"),
            Indicator(Crossed([Bucketized("age", [40.0]), "job"], num_bins=8), "count"),
            Indicator(Vocabulary("city", num_oov_indices=2)),
        ])

    fs = build()
    fs.adapt(data)
    out = fs(data)
    assert out.shape == (64, fs.output_dim) and fs.output_dim == 1 + 4 + 4 + 2 + 8 + 12
    buf = io.BytesIO()
    torch.save(fs.state_dict(), buf)
    buf.seek(0)
    fresh = build()
    fresh.load_state_dict(torch.load(buf, weights_only=False))
    assert torch.equal(fresh(data), out)
    out.sum().backward()  # trainable: gradients reach the embedding tables
    assert fs.columns[2].table.weight.grad is not None


def test_featureset_bad_input():
    with pytest.raises(DanluError, match="dense columns"):
        FeatureSet([Vocabulary("x", ["a"])])
    with pytest.raises(DanluError, match="combiner must be"):
        Embedding(Identity("i", 3), 2, combiner="max")
    with pytest.raises(DanluError, match="has no table yet"):
        Embedding(Vocabulary("v"), 2)({"v": ["a"]})
    with pytest.raises(DanluError, match="hashing takes strings or integers"):
        hash_bucket([1.5], 3)


def test_data_fc_card_task_needs_the_interaction():
    """The data-fc card's synthetic task: deterministic, and the city x job interaction carries signal
    that numbers alone cannot (the per-(city, job) label mean swings far from the overall mean)."""
    from danlu.lab.cards.data_fc import make_tabular

    a, ya, pa = make_tabular(2000, seed=0)
    b, yb, _ = make_tabular(2000, seed=0)
    assert a["city"] == b["city"] and np.array_equal(ya, yb)
    bayes = ((pa > 0.5) == (ya > 0.5)).mean()
    assert 0.7 < bayes < 0.97
    cells = {}
    for c, j, y in zip(a["city"], a["job"], ya):
        cells.setdefault((c, j), []).append(y)
    means = np.array([np.mean(v) for v in cells.values() if len(v) >= 10])
    assert means.std() > 0.25  # the cross matters
