"""Synthetic datasets generated from a seed: 2-D toys, imbalanced sets and sequence tasks.

Every generator takes ``seed`` and returns the same tensors for the same arguments.

2-D classification (x (N, 2) float32, y (N,) long): ``moons``, ``spirals``, ``gaussian_mixture``.
Imbalance: ``imbalanced`` (two Gaussian blobs with a given minority:majority ratio).
Sequences (x (N, T) long tokens, y (N, T) long targets, -100 where no loss is taken):
``copy``, ``reverse``, ``associative_recall``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from danlu.data.splits import DATASETS, Splits, tensor_splits
from danlu.errors import DanluError

IGNORE = -100  # target value with no loss, as torch.nn.CrossEntropyLoss's default ignore_index


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _positive(name: str, value: int) -> None:
    if value <= 0:
        raise DanluError(f"{name} must be positive, got {value}")


@DATASETS.register("moons")
def moons(*, n: int = 1000, noise: float = 0.1, seed: int = 0,
          fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> Splits:
    """Two interleaving half circles (as sklearn's make_moons): x (n, 2), y (n,) in {0, 1}."""
    _positive("n", n)
    g = _gen(seed)
    n0 = n // 2
    t0 = torch.rand(n0, generator=g) * math.pi
    t1 = torch.rand(n - n0, generator=g) * math.pi
    a = torch.stack([torch.cos(t0), torch.sin(t0)], 1)
    b = torch.stack([1 - torch.cos(t1), 0.5 - torch.sin(t1)], 1)
    x = torch.cat([a, b]) + noise * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(n0, dtype=torch.long), torch.ones(n - n0, dtype=torch.long)])
    return tensor_splits("moons", x.float(), y, seed=seed, num_classes=2, fractions=fractions,
                         info={"noise": noise})


@DATASETS.register("spirals")
def spirals(*, n: int = 1500, classes: int = 3, turns: float = 1.5, noise: float = 0.05, seed: int = 0,
            fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> Splits:
    """``classes`` interleaved Archimedean spirals: x (n, 2), y (n,) in 0..classes-1."""
    _positive("n", n)
    _positive("classes", classes)
    g = _gen(seed)
    y = torch.arange(n) % classes
    r = torch.rand(n, generator=g)
    theta = r * turns * 2 * math.pi + y * (2 * math.pi / classes)
    x = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1) + noise * torch.randn(n, 2, generator=g)
    return tensor_splits("spirals", x.float(), y.long(), seed=seed, num_classes=classes, fractions=fractions,
                         info={"turns": turns, "noise": noise})


@DATASETS.register("gaussian_mixture")
def gaussian_mixture(*, n: int = 1000, classes: int = 4, dim: int = 2, spread: float = 3.0, std: float = 1.0,
                     seed: int = 0, fractions: Sequence[float] = (0.7, 0.15, 0.15)) -> Splits:
    """One isotropic Gaussian per class, means on a circle (dim 2) or random (dim > 2): x (n, dim)."""
    _positive("n", n)
    _positive("classes", classes)
    _positive("dim", dim)
    g = _gen(seed)
    if dim == 2:
        ang = torch.arange(classes) * 2 * math.pi / classes
        means = spread * torch.stack([torch.cos(ang), torch.sin(ang)], 1)
    else:
        means = spread * torch.randn(classes, dim, generator=g)
    y = torch.arange(n) % classes
    x = means[y] + std * torch.randn(n, dim, generator=g)
    return tensor_splits("gaussian_mixture", x.float(), y.long(), seed=seed, num_classes=classes,
                         fractions=fractions, info={"means": means.tolist()})


@DATASETS.register("imbalanced")
def imbalanced(*, n_major: int = 5000, ratio: float = 1 / 50, dim: int = 2, separation: float = 2.0,
               seed: int = 0, fractions: Sequence[float] = (0.6, 0.2, 0.2)) -> Splits:
    """Binary data with ``ratio`` minority (label 1) per majority (label 0) example.

    Two overlapping Gaussian blobs whose means are ``separation`` apart along the first axis;
    x (N, dim), y (N,). Splits are stratified so each keeps the ratio.
    """
    _positive("n_major", n_major)
    if not 0 < ratio <= 1:
        raise DanluError(f"ratio must be in (0, 1], got {ratio}")
    g = _gen(seed)
    n_min = max(1, int(round(n_major * ratio)))
    x0 = torch.randn(n_major, dim, generator=g)
    x1 = torch.randn(n_min, dim, generator=g)
    x1[:, 0] += separation
    x = torch.cat([x0, x1]).float()
    y = torch.cat([torch.zeros(n_major, dtype=torch.long), torch.ones(n_min, dtype=torch.long)])
    return tensor_splits("imbalanced", x, y, seed=seed, num_classes=2, fractions=fractions,
                         info={"ratio": ratio, "n_minority": n_min})


def _tokens(g: torch.Generator, n: int, length: int, vocab: int, low: int = 0) -> torch.Tensor:
    return torch.randint(low, vocab, (n, length), generator=g)


@DATASETS.register("copy")
def copy_task(*, n: int = 2000, length: int = 16, vocab: int = 16, seed: int = 0,
              fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> Splits:
    """Copy: tokens ``s`` (length L, values 2..vocab-1), a separator 1, then ``s`` again.

    x (n, 2L+1) is the whole sequence; y (n, 2L+1) is the next token for positions in the second
    half and ``IGNORE`` elsewhere (a causal LM must learn to copy). vocab counts 0 (pad) and 1 (sep).
    """
    _positive("n", n)
    _positive("length", length)
    if vocab < 3:
        raise DanluError(f"vocab must be at least 3 (pad, separator, one symbol), got {vocab}")
    g = _gen(seed)
    s = _tokens(g, n, length, vocab, low=2)
    sep = torch.ones(n, 1, dtype=torch.long)
    x = torch.cat([s, sep, s], 1)
    y = torch.full_like(x, IGNORE)
    y[:, length:-1] = x[:, length + 1:]
    return tensor_splits("copy", x, y, seed=seed, num_classes=vocab, fractions=fractions, stratify=False,
                         info={"length": length, "vocab": vocab, "ignore_index": IGNORE})


@DATASETS.register("reverse")
def reverse_task(*, n: int = 2000, length: int = 16, vocab: int = 16, seed: int = 0,
                 fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> Splits:
    """Reverse: like ``copy`` but the second half is ``s`` reversed."""
    _positive("n", n)
    _positive("length", length)
    if vocab < 3:
        raise DanluError(f"vocab must be at least 3, got {vocab}")
    g = _gen(seed)
    s = _tokens(g, n, length, vocab, low=2)
    x = torch.cat([s, torch.ones(n, 1, dtype=torch.long), s.flip(1)], 1)
    y = torch.full_like(x, IGNORE)
    y[:, length:-1] = x[:, length + 1:]
    return tensor_splits("reverse", x, y, seed=seed, num_classes=vocab, fractions=fractions, stratify=False,
                         info={"length": length, "vocab": vocab, "ignore_index": IGNORE})


@DATASETS.register("associative_recall")
def associative_recall(*, n: int = 2000, pairs: int = 8, keys: int = 16, values: int = 16, seed: int = 0,
                       fractions: Sequence[float] = (0.8, 0.1, 0.1)) -> Splits:
    """Associative recall: ``k1 v1 k2 v2 ... kP vP q`` -> the value stored under key ``q``.

    Keys are tokens ``2 .. 2+keys-1`` (distinct within a sequence), values are tokens
    ``2+keys .. 2+keys+values-1``. x (n, 2P+1); y (n, 2P+1) is ``IGNORE`` except at the last
    position, whose target is the queried value. ``num_classes`` is the vocabulary size.
    """
    _positive("n", n)
    _positive("pairs", pairs)
    if pairs > keys:
        raise DanluError(f"pairs ({pairs}) cannot exceed the number of distinct keys ({keys})")
    g = _gen(seed)
    k = torch.argsort(torch.rand(n, keys, generator=g), dim=1)[:, :pairs] + 2          # (n, P) distinct keys
    v = torch.randint(0, values, (n, pairs), generator=g) + 2 + keys                     # (n, P)
    q_idx = torch.randint(0, pairs, (n,), generator=g)
    q = k[torch.arange(n), q_idx]
    x = torch.stack([k, v], 2).reshape(n, 2 * pairs)
    x = torch.cat([x, q[:, None]], 1)
    y = torch.full_like(x, IGNORE)
    y[:, -1] = v[torch.arange(n), q_idx]
    vocab = 2 + keys + values
    return tensor_splits("associative_recall", x, y, seed=seed, num_classes=vocab, fractions=fractions,
                         stratify=False, info={"pairs": pairs, "keys": keys, "values": values, "vocab": vocab,
                                               "ignore_index": IGNORE})
