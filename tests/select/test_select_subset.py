"""``subset`` modes on synthetic scores, checked to the exact index (issue 20), and its bad input."""

from __future__ import annotations

import pytest
import torch

from danlu.errors import DanluError, UnknownNameError
from danlu.select import subset
from danlu.select.subset import MODES, keep_count

#            index: 0    1    2    3    4    5    6    7    8    9
SCORES = torch.tensor([0.5, 0.9, 0.1, 0.7, 0.3, 0.8, 0.2, 0.6, 0.4, 0.0])


def test_hard_keeps_the_highest_scores():
    assert subset(SCORES, 0.3, "hard").tolist() == [1, 3, 5]        # 0.9, 0.8, 0.7


def test_easy_keeps_the_lowest_scores():
    assert subset(SCORES, 0.3, "easy").tolist() == [2, 6, 9]        # 0.0, 0.1, 0.2


def test_stratified_takes_the_middle_of_each_score_stratum():
    # ranking easy..hard: 9 2 6 4 8 0 7 3 5 1; k=2 strata of 5 -> positions 2 and 7 -> indices 6 and 3
    assert subset(SCORES, 0.2, "stratified").tolist() == [3, 6]
    # k=5 strata of 2 -> positions 1, 3, 5, 7, 9 -> 2, 4, 0, 3, 1
    assert subset(SCORES, 0.5, "stratified").tolist() == [0, 1, 2, 3, 4]
    assert subset(SCORES, 1.0, "stratified").tolist() == list(range(10))


def test_random_is_a_seeded_randperm_prefix():
    want = torch.randperm(10, generator=torch.Generator().manual_seed(7))[:4]
    assert subset(SCORES, 0.4, "random", seed=7).tolist() == sorted(want.tolist())
    assert subset(SCORES, 0.4, "random", seed=7).tolist() == subset(SCORES * 0, 0.4, "random", seed=7).tolist()


def test_ties_are_broken_by_index_and_inf_is_hardest():
    s = torch.tensor([1.0, 2.0, 2.0, float("inf"), 2.0])
    assert subset(s, 0.4, "hard").tolist() == [1, 3]      # inf, then the first of the tied 2.0s
    assert subset(s, 0.6, "easy").tolist() == [0, 1, 2]


def test_keep_count_rounds_and_keeps_at_least_one():
    assert [keep_count(10, f) for f in (0.01, 0.25, 0.35, 0.5, 1.0)] == [1, 2, 4, 5, 10]


@pytest.mark.parametrize("mode", MODES.names())
def test_every_mode_returns_k_distinct_sorted_indices(mode):
    g = torch.Generator().manual_seed(0)
    s = torch.rand(103, generator=g)
    idx = subset(s, 0.37, mode)
    assert len(idx) == 38 and idx.dtype == torch.long
    assert idx.tolist() == sorted(set(idx.tolist()))


@pytest.mark.parametrize("keep", [0, -0.1, 1.5, float("nan"), True, "half"])
def test_keep_outside_0_1_is_refused(keep):
    with pytest.raises(DanluError, match="keep must be a fraction in \\(0, 1\\]"):
        subset(SCORES, keep)


def test_nan_scores_are_refused_naming_how_many():
    s = SCORES.clone()
    s[[2, 5, 7]] = float("nan")
    with pytest.raises(DanluError, match="3 NaN value\\(s\\) of 10"):
        subset(s, 0.5)


def test_unknown_mode_and_bad_shapes():
    with pytest.raises(UnknownNameError, match="valid: .*hard"):
        subset(SCORES, 0.5, "hardest")
    with pytest.raises(DanluError, match="1-D"):
        subset(SCORES.view(2, 5), 0.5)
    with pytest.raises(DanluError, match="1-D"):
        subset(torch.tensor([]), 0.5)
