"""Pair verification: ROC AUC, TAR at a fixed FAR, and an accept threshold chosen on a validation split.

The face-verification protocol (LFW, Huang et al. 2007; the margin-softmax papers report it): pairs
of embeddings are scored by cosine similarity; a pair is accepted as "same identity" when its score
is >= a threshold t. For genuine (same) and impostor (different) pairs:

- TAR(t) = share of genuine pairs accepted (true accept rate, the ROC's TPR),
- FAR(t) = share of impostor pairs accepted (false accept rate, the ROC's FPR),
- ROC AUC = P(genuine score > impostor score) + ½ P(equal): the Mann-Whitney statistic, equal to
  ``sklearn.metrics.roc_auc_score`` (ties averaged),
- TAR@FAR=f: the highest TAR over thresholds whose FAR <= f (the ROC's TPR at the last point with
  FPR <= f, as read off ``sklearn.metrics.roc_curve``),
- the threshold: the one maximising pair accuracy on a validation split, then applied to the test
  split (so the test accuracy is not tuned on the test pairs).

    >>> import torch
    >>> scores = torch.tensor([0.9, 0.8, 0.3, 0.4, 0.1]); same = torch.tensor([1, 0, 1, 1, 0])
    >>> round(roc_auc(scores, same), 4)
    0.6667
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from danlu.errors import DanluError


def _check(scores: Tensor, same: Tensor, where: str) -> tuple[Tensor, Tensor]:
    scores, same = torch.as_tensor(scores), torch.as_tensor(same)
    if scores.dim() != 1 or same.shape != scores.shape:
        raise DanluError(f"{where}: scores and same must be 1-D of equal length, got {tuple(scores.shape)} and "
                         f"{tuple(same.shape)}")
    if not bool(((same == 0) | (same == 1)).all()):
        raise DanluError(f"{where}: same must hold 0 (impostor) or 1 (genuine) per pair")
    same = same.bool()
    if bool(same.all()) or not bool(same.any()):
        raise DanluError(f"{where}: needs both genuine and impostor pairs, got {int(same.sum())} genuine of {len(same)}")
    if not bool(torch.isfinite(scores.double()).all()):
        raise DanluError(f"{where}: scores must be finite")
    return scores.double(), same


def roc_auc(scores: Tensor, same: Tensor) -> float:
    """Area under the ROC of scores (N,) for labels ``same`` (N,) in {0, 1}: the Mann-Whitney U / (n+ n-),
    ties counted half (average ranks); equals ``sklearn.metrics.roc_auc_score(same, scores)``."""
    s, y = _check(scores, same, "roc_auc")
    order = torch.argsort(s)
    sorted_s = s[order]
    ranks = torch.empty_like(s)
    # average rank (1-based) of each group of tied scores
    uniq, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True, return_counts=True)
    ends = torch.cumsum(counts, 0).double()
    avg = ends - (counts.double() - 1) / 2
    ranks[order] = avg[inverse]
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2
    return u / (n_pos * n_neg)


def roc_curve(scores: Tensor, same: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """(far (K,), tar (K,), thresholds (K,)) at every distinct score, highest threshold first, with a
    leading (0, 0, +inf) point (sklearn's ``roc_curve(..., drop_intermediate=False)``)."""
    s, y = _check(scores, same, "roc_curve")
    order = torch.argsort(s, descending=True, stable=True)
    s, y = s[order], y[order].double()
    last = torch.ones(len(s), dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]  # the last pair of each distinct score
    tp, fp = torch.cumsum(y, 0)[last], torch.cumsum(1 - y, 0)[last]
    zero = torch.zeros(1, dtype=torch.float64)
    tar = torch.cat([zero, tp / y.sum()])
    far = torch.cat([zero, fp / (1 - y).sum()])
    thresholds = torch.cat([torch.full((1,), float("inf"), dtype=torch.float64), s[last]])
    return far, tar, thresholds


def tar_at_far(scores: Tensor, same: Tensor, far: float = 1e-2) -> tuple[float, float]:
    """(TAR, threshold): the highest true accept rate over thresholds whose false accept rate is <= ``far``."""
    if not 0 <= far <= 1:
        raise DanluError(f"tar_at_far: far must be in [0, 1], got {far}")
    fars, tars, thr = roc_curve(scores, same)
    ok = torch.nonzero(fars <= far + 1e-12).flatten()
    i = int(ok[-1])  # fars is non-decreasing: the last admissible point has the highest TAR
    return float(tars[i]), float(thr[i])


def best_threshold(scores: Tensor, same: Tensor) -> tuple[float, float]:
    """(threshold, accuracy): the accept threshold (score >= t) maximising pair accuracy; ties: the
    highest such threshold, placed midway between neighbouring distinct scores."""
    fars, tars, thr = roc_curve(scores, same)
    s, y = _check(scores, same, "best_threshold")
    n_pos, n = float(y.sum()), len(y)
    acc = (tars * n_pos + (1 - fars) * (n - n_pos)) / n  # (K,)
    i = int(torch.argmax(acc))  # first maximum = highest threshold
    if i == 0:
        t = float(thr[1]) + 1.0  # reject everything: above the highest score
    elif i + 1 < len(thr):
        t = float(thr[i] + thr[i + 1]) / 2
    else:
        t = float(thr[i]) - 1.0  # accept everything
    return t, float(acc[i])


def pair_accuracy(scores: Tensor, same: Tensor, threshold: float) -> float:
    """Share of pairs classified right by ``score >= threshold``."""
    s, y = _check(scores, same, "pair_accuracy")
    return float(((s >= threshold) == y).double().mean())


def make_pairs(labels: Tensor, n_pairs: int, *, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n_pairs`` genuine and ``n_pairs`` impostor index pairs over ``labels`` (N,), drawn with a seeded
    generator: (pairs (2 n_pairs, 2) long, same (2 n_pairs,) long, genuine first)."""
    labels = torch.as_tensor(labels)
    if labels.dim() != 1 or len(labels) < 2 or n_pairs < 1:
        raise DanluError(f"make_pairs: labels must be 1-D with >= 2 items and n_pairs >= 1, got "
                         f"{tuple(labels.shape)}, {n_pairs}")
    classes, counts = torch.unique(labels, return_counts=True)
    if len(classes) < 2 or int(counts.max()) < 2:
        raise DanluError("make_pairs: needs >= 2 classes and a class with >= 2 items")
    g = torch.Generator().manual_seed(seed)
    n = len(labels)

    def draw(want_same: bool) -> Tensor:
        out: list[Tensor] = []
        got = 0
        while got < n_pairs:
            a = torch.randint(0, n, (4 * n_pairs,), generator=g)
            b = torch.randint(0, n, (4 * n_pairs,), generator=g)
            keep = (a != b) & ((labels[a] == labels[b]) == want_same)
            pick = torch.stack([a[keep], b[keep]], 1)[: n_pairs - got]
            out.append(pick)
            got += len(pick)
        return torch.cat(out)

    pairs = torch.cat([draw(True), draw(False)])
    same = torch.cat([torch.ones(n_pairs, dtype=torch.long), torch.zeros(n_pairs, dtype=torch.long)])
    return pairs, same


def pair_scores(embeddings: Tensor, pairs: Tensor) -> Tensor:
    """Cosine similarity (P,) of embedding pairs: embeddings (N, D), pairs (P, 2) indices."""
    if embeddings.dim() != 2 or pairs.dim() != 2 or pairs.shape[1] != 2:
        raise DanluError(f"pair_scores: embeddings must be (N, D) and pairs (P, 2), got {tuple(embeddings.shape)} "
                         f"and {tuple(pairs.shape)}")
    e = F.normalize(embeddings.double(), dim=1)
    return (e[pairs[:, 0]] * e[pairs[:, 1]]).sum(1)


@dataclass(frozen=True)
class VerificationResult:
    """Test-split numbers of :func:`verify`: ``auc``, ``tar`` at ``far``, ``accuracy`` at the validation
    ``threshold``."""

    auc: float
    tar: float
    far: float
    threshold: float
    accuracy: float


def verify(val_scores: Tensor, val_same: Tensor, test_scores: Tensor, test_same: Tensor,
           *, far: float = 1e-2) -> VerificationResult:
    """The protocol: the threshold is chosen on the validation pairs, AUC / TAR@FAR / accuracy measured on test."""
    t, _ = best_threshold(val_scores, val_same)
    tar, _ = tar_at_far(test_scores, test_same, far)
    return VerificationResult(auc=roc_auc(test_scores, test_same), tar=tar, far=far, threshold=t,
                              accuracy=pair_accuracy(test_scores, test_same, t))
