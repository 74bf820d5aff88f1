"""Design pieces of the attention cards: the measures their verdicts are computed from.

References: brute-force counts (tile density), closed forms (a least-squares slope of an exact
power law, the Gaussian kernel), and each card's own rule recomputed from the numbers it reports.
"""

from __future__ import annotations

import math
import pathlib

import pytest
import torch

from danlu.attention.kinds.sparse import sparse_mask
from danlu.lab.cards import _attention_common as C
from danlu.lab.cards import attention_sparse as S
from danlu.lab.core import CardContext
from danlu.lab.evidence import estimate
from danlu.lab.threads import one_thread, single_threaded


def _ctx(card_id: str, budget: dict, tmp_path: pathlib.Path, seed: int = 0) -> CardContext:
    return CardContext(device=torch.device("cpu"), seed=seed, mode="quick", budget=budget, figure_dir=tmp_path,
                       card_id=card_id)


# --- shared cost helpers -------------------------------------------------------------------------

@pytest.mark.parametrize("power", [0.0, 1.0, 2.0, -0.5])
def test_loglog_slope_recovers_an_exact_power_law(power):
    xs = [16, 32, 64, 128, 256]
    assert C.loglog_slope(xs, [3.0 * x ** power for x in xs]) == pytest.approx(power)


def test_one_thread_restores_the_thread_count():
    before = torch.get_num_threads()
    with one_thread(torch.device("cpu")):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before


def test_seconds_counts_cpu_work_not_sleep():
    import time

    assert C.seconds(lambda: time.sleep(0.05), torch.device("cpu")) < 0.02          # sleeping is no work
    busy = C.seconds(lambda: sum(i * i for i in range(200_000)), torch.device("cpu"))
    assert busy > 0


# --- att-sparse -----------------------------------------------------------------------------------

@pytest.mark.parametrize("n,tile", [(64, 16), (50, 16), (37, 8)])
def test_sparse_tile_density_matches_brute_force(n: int, tile: int):
    g = torch.Generator().manual_seed(n)
    keep = torch.rand(n, n, generator=g) < 0.02
    nb = -(-n // tile)
    kept = sum(bool(keep[i:i + tile, j:j + tile].any()) for i in range(0, n, tile) for j in range(0, n, tile))
    assert S._tile_density(keep, tile) == pytest.approx(kept / nb**2)


def test_sparse_block_pattern_tile_density_equals_density_when_aligned():
    keep = sparse_mask("block", 128, block=32)
    assert S._tile_density(keep, 16) == pytest.approx(keep.float().mean().item()) == pytest.approx(32 / 128)


def test_sparse_tiny_run_is_exact_and_verdict_follows_its_rule(tmp_path: pathlib.Path):
    budget = {"n": 128, "heads": 1, "d": 16, "tile": 16, "repeats": 3, "calls": 1,
              "sizes": {"local": [2, 32], "strided": [8, 32], "block": [8, 64]}}
    ctx = _ctx("att-sparse", budget, tmp_path)
    res = S.att_sparse(ctx)
    results = res.extra["results"]
    assert set(results) == {"local", "strided", "block"}
    assert len(res.table) == 6
    for rs in results.values():
        for r in rs:
            assert r["max_abs_diff"] <= S.TOL
            assert 0 < r["density"] <= r["tile_density"] <= 1
            assert r["sparse_MiB"] > 0 and r["dense_MiB"] > 0
            assert len(r["sparse_s"]) == len(r["dense_s"]) == 3
    assert results["block"][0]["density"] == pytest.approx(8 / 128)
    ratios = {p: estimate([math.log(a / b) for a, b in zip(min(rs, key=lambda r: r["density"])["sparse_s"],
                                                          max(rs, key=lambda r: r["density"])["sparse_s"])])
              for p, rs in results.items()}
    assert res.held is S.verdict(res.extra["worst_abs_diff"], ratios)
    assert set(res.effects) == {"time ratio, local", "time ratio, strided", "time ratio, block"}
    assert ctx.figures == ["att-sparse-density.png"]


# --- att-score ------------------------------------------------------------------------------------

def test_score_masking_measure_is_exact_for_danlu(tmp_path: pathlib.Path):
    from danlu.lab.cards import attention_score as SC

    m = SC._masking(0, {"batch": 4, "nq": 6, "nk": 10})
    assert m["masked_max"] == 0.0 and m["rowsum_err"] < 1e-12 and m["sdpa_err"] < 1e-12
    assert m["masked"] > 0 and m["rows"] > 0


def test_score_masking_measure_catches_a_large_negative_fill(monkeypatch):
    """A masked softmax that fills -1e4 instead of -inf leaks weight onto masked keys: the measure sees it."""
    import danlu.attention as A
    from danlu.attention.functional import sequence_mask
    from danlu.lab.cards import attention_score as SC

    def leaky(scores, valid_lens=None, mask=None):
        per_q = valid_lens if valid_lens.dim() == scores.dim() - 1 else valid_lens[:, None].expand(*scores.shape[:-1])
        return torch.softmax(scores.masked_fill(~sequence_mask(per_q, scores.shape[-1]), -30.0), -1)

    monkeypatch.setattr(A, "masked_softmax", leaky)
    m = SC._masking(0, {"batch": 4, "nq": 6, "nk": 10})
    assert m["masked_max"] > 0.0


def test_score_behaviour_variances_follow_the_closed_form():
    from danlu.lab.cards import attention_score as SC

    r = SC._behaviour(0, [16, 256], 64, 64)
    assert r["unscaled_var"][0] == pytest.approx(16, rel=0.25) and r["unscaled_var"][1] == pytest.approx(256, rel=0.25)
    assert r["scaled_var"][0] == pytest.approx(1, rel=0.25) and r["scaled_var"][1] == pytest.approx(1, rel=0.25)


# --- att-mha --------------------------------------------------------------------------------------

@pytest.mark.parametrize("arch,k,n,expected", [
    ("CNN", 3, 9, 8),                  # reach 1 token per layer: n - 1 layers
    ("CNN", 5, 9, 4),                  # reach 2 per layer: ceil((n - 1) / 2)
    ("CNN", 5, 10, 5),
    ("RNN", 3, 7, 7),                  # input j needs j + 1 recurrence steps
    ("self-attention", 3, 9, 1),
])
def test_mha_path_length_by_gradient_matches_the_closed_form(arch, k, n, expected):
    from danlu.lab.cards import attention_mha as M

    torch.manual_seed(0)
    d = 4
    mods = {"CNN": [M._layer("CNN", d, k, 2).double() for _ in range(n)], "RNN": M._layer("RNN", d, k, 2).double(),
            "self-attention": [M._layer("self-attention", d, k, 2).double() for _ in range(2)]}
    assert M._max_path(arch, mods, n, d, torch.Generator().manual_seed(0)) == expected


def test_mha_sequential_ops_are_counted_by_hooks():
    from danlu.lab.cards import attention_mha as M

    assert M._sequential_ops("RNN", 4, 3, 2, depth=2, n=13) == 13
    assert M._sequential_ops("CNN", 4, 3, 2, depth=3, n=13) == 3
    assert M._sequential_ops("self-attention", 4, 3, 2, depth=2, n=13) == 2


# --- att-gau --------------------------------------------------------------------------------------

@pytest.mark.parametrize("dim,depth,qk", [(32, 1, 16), (64, 2, 32), (24, 1, 8)])
def test_gau_arms_have_equal_parameters(dim, depth, qk):
    from danlu.lab.cards import attention_gau as G

    b = {"dim": dim, "depth": depth, "heads": 4, "qk_dim": qk}
    hidden = G.matched_ffn_hidden(12, b)
    pg, pm = G._params(G.build("GAU", 12, b)), G._params(G.build("MHA+FFN", 12, b, hidden))
    assert abs(pg - pm) <= 2 * dim + 1                       # within one FFN hidden unit's parameters
    assert len(G.build("GAU", 12, b).layers) == 2 * depth    # two GAU layers per MHA+FFN block


def test_gau_models_map_tokens_to_logits_causally():
    from danlu.lab.cards import attention_gau as G

    b = {"dim": 16, "depth": 1, "heads": 2, "qk_dim": 8}
    torch.manual_seed(0)
    for arm in G.ARMS:
        m = G.build(arm, 10, b).eval()
        x = torch.randint(0, 10, (2, 7))
        y = m(x)
        assert y.shape == (2, 7, 10)
        x2 = x.clone()
        x2[:, -1] = (x2[:, -1] + 1) % 10                     # changing the last token leaves earlier logits alone
        assert torch.allclose(m(x2)[:, :-1], y[:, :-1], atol=1e-6), arm


def test_single_threaded_card_runs_on_one_thread_and_restores():
    seen = []
    fn = single_threaded(lambda ctx: seen.append(torch.get_num_threads()) or "ok")
    before = torch.get_num_threads()
    ctx = _ctx("x", {}, pathlib.Path("/nonexistent"))
    assert fn(ctx) == "ok" and seen == [1]
    assert torch.get_num_threads() == before
