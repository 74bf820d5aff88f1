"""Which examples to keep, given a score per example (higher = harder).

Modes (``MODES``): ``hard`` keeps the ``k`` highest scores (Paul et al. 2021 prune the easy end);
``easy`` the ``k`` lowest; ``random`` a seeded uniform draw (the baseline); ``stratified`` one
example from each of ``k`` equal-count strata of the score ranking (the middle one of each), an
even spread from easy to hard, in the spirit of coverage-centric selection (Zheng et al. 2023,
arXiv:2210.15809), which the data-diet follow-ups found to beat ``hard`` at small keep fractions.

``k = max(1, round(keep * N))`` (Python's round: half to even); ties are broken by the lower index first (a stable sort), so the
result is exact and repeatable. Indices come back sorted ascending.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from danlu.errors import DanluError
from danlu.registry import Registry

#: mode -> ``fn(scores (N,), k, seed) -> indices (k,)``
MODES: Registry[Callable[[Tensor, int, int], Tensor]] = Registry("subset mode")


@MODES.register("hard")
def _hard(scores: Tensor, k: int, seed: int) -> Tensor:
    return torch.argsort(-scores, stable=True)[:k]


@MODES.register("easy")
def _easy(scores: Tensor, k: int, seed: int) -> Tensor:
    return torch.argsort(scores, stable=True)[:k]


@MODES.register("random")
def _random(scores: Tensor, k: int, seed: int) -> Tensor:
    return torch.randperm(len(scores), generator=torch.Generator().manual_seed(seed))[:k]


@MODES.register("stratified")
def _stratified(scores: Tensor, k: int, seed: int) -> Tensor:
    order = torch.argsort(scores, stable=True)  # easy .. hard
    n = len(scores)
    picks = torch.tensor([(2 * i + 1) * n // (2 * k) for i in range(k)], dtype=torch.long)  # stratum middles
    return order[picks]


def keep_count(n: int, keep: float) -> int:
    """``max(1, round(keep * n))`` after checking ``keep`` is in (0, 1]."""
    if isinstance(keep, bool) or not isinstance(keep, (int, float)) or not 0 < keep <= 1:
        raise DanluError(f"keep must be a fraction in (0, 1], got {keep!r}")
    return max(1, round(keep * n))


def subset(scores: Tensor, keep: float = 0.5, mode: str = "hard", *, seed: int = 0) -> Tensor:
    """Indices (k,) int64, ascending, of the examples to keep.

    Args:
        scores: (N,) one finite-or-inf score per example, higher = harder (negate a margin/AUM).
        keep: the fraction kept, in (0, 1].
        mode: ``hard``, ``easy``, ``random`` or ``stratified`` (see the module docstring).
        seed: the draw of ``random`` (other modes ignore it).
    """
    fn = MODES.get(mode)
    if not isinstance(scores, Tensor) or scores.ndim != 1 or len(scores) == 0:
        raise DanluError(f"scores must be a non-empty 1-D tensor, got "
                         f"{tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__}")
    nan = int(torch.isnan(scores).sum()) if scores.is_floating_point() else 0
    if nan:
        raise DanluError(f"scores hold {nan} NaN value(s) of {len(scores)}; score every example before subsetting")
    k = keep_count(len(scores), keep)
    idx = fn(scores.detach().cpu().double(), k, seed)
    return torch.sort(idx).values


__all__ = ["MODES", "keep_count", "subset"]
