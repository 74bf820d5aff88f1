"""The att-sparse card's measures: tile density against a brute-force count, and a tiny run whose
numbers obey the card's own rule (sparse == dense with the same mask; verdict recomputed from them)."""

from __future__ import annotations

import pathlib

import pytest
import torch

from danlu.attention.kinds.sparse import sparse_mask
from danlu.lab.cards import attention_sparse as S
from danlu.lab.core import CardContext


@pytest.mark.parametrize("n,tile", [(64, 16), (50, 16), (37, 8)])
def test_tile_density_matches_brute_force(n: int, tile: int):
    g = torch.Generator().manual_seed(n)
    keep = torch.rand(n, n, generator=g) < 0.02
    nb = -(-n // tile)
    kept = sum(bool(keep[i:i + tile, j:j + tile].any()) for i in range(0, n, tile) for j in range(0, n, tile))
    assert S._tile_density(keep, tile) == pytest.approx(kept / nb**2)


def test_block_pattern_tile_density_equals_density_when_aligned():
    keep = sparse_mask("block", 128, block=32)
    assert S._tile_density(keep, 16) == pytest.approx(keep.float().mean().item()) == pytest.approx(32 / 128)


def test_tiny_card_run_is_exact_and_verdict_follows_rule(tmp_path: pathlib.Path):
    budget = {"n": 128, "heads": 1, "d": 16, "tile": 16, "repeats": 1,
              "sizes": {"local": [2, 32], "strided": [8, 32], "block": [8, 64]}}
    ctx = CardContext(device=torch.device("cpu"), seed=0, mode="quick", budget=budget,
                      figure_dir=tmp_path, card_id="att-sparse")
    res = S.att_sparse(ctx)
    results = res.extra["results"]
    assert set(results) == {"local", "strided", "block"}
    assert len(res.table) == 6
    for rs in results.values():
        for r in rs:
            assert r["max_abs_diff"] <= S.TOL
            assert 0 < r["density"] <= r["tile_density"] <= 1
            assert r["sparse_MiB"] > 0 and r["dense_MiB"] > 0
    assert results["block"][0]["density"] == pytest.approx(8 / 128)
    falls = all(min(rs, key=lambda r: r["density"])["sparse_ms"]
                <= S.MAX_RATIO * max(rs, key=lambda r: r["density"])["sparse_ms"] for rs in results.values())
    assert res.held == falls  # equality holds, so the verdict is the cost arm
    assert ctx.figures == ["att-sparse-density.png"]
