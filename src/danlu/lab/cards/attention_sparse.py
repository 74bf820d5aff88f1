"""att-sparse: sparse attention equals masked dense attention; its cost vs the pattern's density.

Patterns (Child et al., "Generating Long Sequences with Sparse Transformers", arXiv:1904.10509):
local window, strided, block (:data:`danlu.attention.kinds.sparse.SPARSE_PATTERNS`), each at a few
sizes, giving a range of densities (fraction of the N×N score matrix kept). For each one we run
danlu's sparse path, ``SparseAttention.attend`` (builds the keep-mask, then the flash reference,
which skips every (tile, tile) block with no kept entry), and dense attention with the same mask
(``softmax_attention_naive``: builds the same mask, the full N×N scores, masked softmax). Both
build their mask inside the measured call. Forward only, B = 1, float32, CPU.

Measured: max |sparse - dense| over the output, forward time, and peak tensor memory
(:class:`danlu.kernels.memory.TensorMemoryTracker`, inputs excluded). The table also gives each
pattern's *tile density* (fraction of tiles with a kept entry): the kernel's work follows it, not
the element density.

Time is measured in ``repeats`` rounds; each round times every call once (the fastest of
``calls`` back-to-back calls), interleaved, as single-thread CPU time on a CPU device
(:mod:`danlu.lab.cards._attention_common`: wall time on a shared machine grows faster than the
work). The effect per pattern is the ratio sparse time at the lowest density / at the highest
density, one per round, with its 95% t interval on the log scale.
"""

from __future__ import annotations

import math
import statistics

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards._attention_common import best_of
from danlu.lab.evidence import Decision, Estimate, all_of, decide, estimate, ratio_text
from danlu.lab.threads import one_thread, single_threaded

TOL = 1e-5
MAX_RATIO = 0.5
_PARAM = {"local": "window", "strided": "stride", "block": "block"}
_WORD = {True: "falls", False: "does not fall", None: "undecided"}


def verdict(max_abs_diff: float, time_ratios: dict[str, Estimate]) -> Decision:
    """Held iff every max |sparse - dense| is <= 1e-5 (float32 rounding) AND, for every pattern,
    the 95% interval of the ratio sparse time at its lowest density / sparse time at its highest
    density lies wholly below 0.5. Not held if a difference exceeds 1e-5 or some pattern's interval
    lies wholly above 0.5; inconclusive if an interval contains 0.5. ``time_ratios`` maps pattern
    -> estimate of log(ratio).

    Margin: 0.5x, a halving of the time, for densities 10-30x apart; round-to-round noise of a
    ratio of CPU times is a few percent, which the interval carries.
    """
    return all_of(max_abs_diff <= TOL, *(decide(e, math.log(MAX_RATIO), higher_is_better=False)
                                         for e in time_ratios.values()))


def _tile_density(keep: torch.Tensor, tile: int) -> float:
    """Fraction of (tile, tile) blocks of the (N, N) keep-mask with at least one kept entry."""
    n = keep.shape[-1]
    nb = -(-n // tile)
    pad = torch.zeros(nb * tile, nb * tile, dtype=torch.bool)
    pad[:n, :n] = keep
    return pad.view(nb, tile, nb, tile).any(3).any(1).float().mean().item()


@card(
    id="att-sparse",
    title="Sparse attention: exactness and cost vs density",
    claim="Sparse attention equals dense attention with the same mask, and its cost falls with the density of the pattern.",
    source="note 002: sparse attention (local, strided, block patterns)",
    area="attention",
    quick={"n": 1024, "heads": 2, "d": 64, "tile": 32, "repeats": 5, "calls": 1,
           "sizes": {"local": [8, 64, 256], "strided": [32, 128, 256], "block": [16, 128, 512]}},
    full={"n": 4096, "heads": 4, "repeats": 8, "calls": 2,
          "sizes": {"local": [32, 128, 512, 1024], "strided": [64, 128, 256, 1024],
                    "block": [64, 256, 1024, 2048]}},
    rule=verdict,
)
@single_threaded
def att_sparse(ctx: CardContext) -> CardResult:
    from danlu.attention.kinds.sparse import SparseAttention, sparse_mask
    from danlu.kernels.flash_attention.reference import softmax_attention_naive
    from danlu.kernels.memory import TensorMemoryTracker
    from danlu.plotting import subplots

    b = ctx.budget
    n, h, d, tile = b["n"], b["heads"], b["d"], b["tile"]
    g = torch.Generator().manual_seed(ctx.seed)
    q, k, v = (torch.randn(1, h, n, d, generator=g).to(ctx.device) for _ in range(3))  # (1, H, N, D)
    rows: list[dict] = []
    res: dict[str, list[dict]] = {}
    calls: list[tuple[dict, object, object]] = []        # (result row, sparse fn, dense fn)
    with torch.no_grad(), one_thread(ctx.device):
        for pattern, sizes in b["sizes"].items():
            key = _PARAM[pattern]
            res[pattern] = []
            for size in sizes:
                att = SparseAttention(h * d, h, pattern=pattern, tile=tile, **{key: size}).to(ctx.device)
                keep = sparse_mask(pattern, n, **{key: size})                          # (N, N) bool

                def sparse_fn(att=att):
                    return att.attend(q, k, v, None)                                   # (1, H, N, D)

                def dense_fn(pattern=pattern, key=key, size=size):
                    m = sparse_mask(pattern, n, device=q.device, **{key: size})        # (N, N)
                    return softmax_attention_naive(q, k, v, mask=m)                   # (1, H, N, D)

                with TensorMemoryTracker() as mem_s:  # also the warm-up run
                    out_s = sparse_fn()
                with TensorMemoryTracker() as mem_d:
                    out_d = dense_fn()
                r = {"pattern": pattern, "param": f"{key}={size}",
                     "density": keep.float().mean().item(), "tile_density": _tile_density(keep, tile),
                     "max_abs_diff": (out_s - out_d).abs().max().item(), "sparse_s": [], "dense_s": [],
                     "sparse_MiB": mem_s.peak_bytes / 2**20, "dense_MiB": mem_d.peak_bytes / 2**20}
                res[pattern].append(r)
                calls.append((r, sparse_fn, dense_fn))
        for _ in range(b["repeats"]):                                                  # interleaved rounds
            for r, sparse_fn, dense_fn in calls:
                r["sparse_s"].append(best_of(sparse_fn, ctx.device, b["calls"]))
                r["dense_s"].append(best_of(dense_fn, ctx.device, b["calls"]))
    for rs in res.values():
        for r in rs:
            r["sparse_ms"] = 1e3 * statistics.median(r["sparse_s"])
            r["dense_ms"] = 1e3 * statistics.median(r["dense_s"])
            rows.append({"pattern": r["pattern"], "param": r["param"], "density": round(r["density"], 4),
                         "tile_density": round(r["tile_density"], 3), "max_abs_diff": f"{r['max_abs_diff']:.1e}",
                         "sparse_ms": round(r["sparse_ms"], 2), "dense_ms": round(r["dense_ms"], 2),
                         "sparse_MiB": round(r["sparse_MiB"], 2), "dense_MiB": round(r["dense_MiB"], 2)})

    worst = max(r["max_abs_diff"] for rs in res.values() for r in rs)
    ratios: dict[str, tuple[dict, dict, Estimate]] = {}
    for pattern, rs in res.items():
        lo, hi = min(rs, key=lambda r: r["density"]), max(rs, key=lambda r: r["density"])
        ratios[pattern] = (lo, hi, estimate([math.log(a / c) for a, c in zip(lo["sparse_s"], hi["sparse_s"])]))
    equal = worst <= TOL
    decisions = {p: decide(e, math.log(MAX_RATIO), higher_is_better=False) for p, (_, _, e) in ratios.items()}
    held = verdict(worst, {p: e for p, (_, _, e) in ratios.items()})

    fig, axes = subplots(1, 2, width=4.8)
    style = {"local": ("C0", "o", "x", (0, (6, 2))), "strided": ("C1", "s", "+", (0, (2, 2))),
             "block": ("C2", "^", "1", (0, (6, 2, 1, 2)))}
    for pattern, rs in res.items():
        xs = [r["density"] for r in rs]
        c, m_sparse, m_dense, dash = style.get(pattern, ("C3", "o", "x", "--"))
        for key, mk, ls, lw, what in (("sparse", m_sparse, "-", 2.0, "sparse"), ("dense", m_dense, dash, 1.2, "dense+mask")):
            ms_ = [r[f"{key}_ms"] for r in rs]
            err = [[m - 1e3 * min(r[f"{key}_s"]) for m, r in zip(ms_, rs)],
                   [1e3 * max(r[f"{key}_s"]) - m for m, r in zip(ms_, rs)]]
            axes[0, 0].errorbar(xs, ms_, yerr=err, fmt=mk, ls=ls, lw=lw, color=c, ms=6, capsize=2,
                                label=f"{pattern} {what}")
            axes[0, 1].plot(xs, [r[f"{key}_MiB"] for r in rs], marker=mk, ls=ls, lw=lw, color=c, ms=7,
                            label=f"{pattern} {what}")
    axes[0, 0].set(xscale="log", xlabel="density (fraction of N×N kept)", ylabel="ms (forward, CPU time)",
                   title=f"time, N={n} (median, bars min-max)")
    axes[0, 1].set(xscale="log", yscale="log", xlabel="density (fraction of N×N kept)", ylabel="peak MiB allocated",
                   title=f"memory, N={n} (dense curves coincide)")
    mib = [r[f"{k}_MiB"] for rs in res.values() for r in rs for k in ("sparse", "dense")]
    yt = [t for t in (0.5, 1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 500, 1000, 2000) if min(mib) / 1.5 <= t <= max(mib) * 1.5]
    axes[0, 1].set_yticks(yt, [f"{t:g}" for t in yt], minor=False)
    axes[0, 1].set_yticks([], minor=True)
    ticks = [0.01, 0.03, 0.1, 0.3, 1.0]
    for a in axes[0]:
        a.set_xticks(ticks, [f"{t:g}" for t in ticks], minor=False)
        a.set_xticks([], minor=True)
        a.legend(fontsize=6, ncol=2)
    ctx.figure("density", fig, caption=(f"Forward time and peak tensor memory vs density, sparse (flash tiles of "
                                        f"{tile}, empty tiles skipped) vs dense attention with the same mask."))

    desc = "; ".join(
        f"{p}: {lo['sparse_ms']:.1f} ms at density {lo['density']:.3f} (tiles {lo['tile_density']:.2f}) vs "
        f"{hi['sparse_ms']:.1f} ms at {hi['density']:.3f} (tiles {hi['tile_density']:.2f}): "
        f"{ratio_text(e, what='rounds')} ({_WORD[decisions[p]]})"
        for p, (lo, hi, e) in ratios.items())
    reason = (f"max |sparse - dense| {worst:.1e} (needs <= {TOL:g}: {'ok' if equal else 'fails'}). Sparse time at "
              f"the lowest / highest density, N={n} (needs < {MAX_RATIO}x): {desc}.")
    notes = ("The sparse path skips only (tile, tile) blocks with no kept entry, so its work follows the tile "
             "density, not the element density: a strided pattern puts a kept column in nearly every tile, "
             "so thinning it does not make it cheaper. Peak memory of the sparse path is O(N·D) plus the "
             "N×N bool mask whatever the density; dense attention holds N×N float scores.")
    return CardResult(table=rows, held=held, reason=reason, notes=notes,
                      effects={f"time ratio, {p}": (e, ratio_text(e, what="rounds")) for p, (_, _, e) in ratios.items()},
                      extra={"n": n, "tile": tile, "results": res, "worst_abs_diff": worst})
