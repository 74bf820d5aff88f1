"""att-sparse: sparse attention equals masked dense attention; its cost vs the pattern's density.

Patterns (Child et al., "Generating Long Sequences with Sparse Transformers", arXiv:1904.10509):
local window, strided, block (:data:`danlu.attention.kinds.sparse.SPARSE_PATTERNS`), each at a few
sizes, giving a range of densities (fraction of the N×N score matrix kept). For each one we run
danlu's sparse path, ``SparseAttention.attend`` (builds the keep-mask, then the flash reference,
which skips every (tile, tile) block with no kept entry), and dense attention with the same mask
(``softmax_attention_naive``: builds the same mask, the full N×N scores, masked softmax). Both
build their mask inside the measured call. Forward only, B = 1, float32, CPU.

Measured: max |sparse - dense| over the output, median forward time, and peak tensor memory
(:class:`danlu.kernels.memory.TensorMemoryTracker`, inputs excluded). The table also gives each
pattern's *tile density* (fraction of tiles with a kept entry): the kernel's work follows it, not
the element density.

Verdict rule (fixed before measuring): held iff every max difference is <= 1e-5 (float32 rounding)
AND, for every pattern, the sparse time at its lowest density is at most 0.5x the sparse time at
its highest density.
"""

from __future__ import annotations

import statistics
import time

import torch

from danlu.lab import CardContext, CardResult, card

TOL = 1e-5
MAX_RATIO = 0.5
_PARAM = {"local": "window", "strided": "stride", "block": "block"}


def _tile_density(keep: torch.Tensor, tile: int) -> float:
    """Fraction of (tile, tile) blocks of the (N, N) keep-mask with at least one kept entry."""
    n = keep.shape[-1]
    nb = -(-n // tile)
    pad = torch.zeros(nb * tile, nb * tile, dtype=torch.bool)
    pad[:n, :n] = keep
    return pad.view(nb, tile, nb, tile).any(3).any(1).float().mean().item()


def _median_time(fn, repeats: int) -> float:
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


@card(
    id="att-sparse",
    title="Sparse attention: exactness and cost vs density",
    claim="Sparse attention equals dense attention with the same mask, and its cost falls with the density of the pattern.",
    source="note 002: sparse attention (local, strided, block patterns)",
    area="attention",
    quick={"n": 1024, "heads": 2, "d": 64, "tile": 32, "repeats": 3,
           "sizes": {"local": [8, 64, 256], "strided": [32, 128, 256], "block": [16, 128, 512]}},
    full={"n": 4096, "heads": 4, "repeats": 5,
          "sizes": {"local": [32, 128, 512, 1024], "strided": [64, 128, 256, 1024],
                    "block": [64, 256, 1024, 2048]}},
)
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
    with torch.no_grad():
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
                err = (out_s - out_d).abs().max().item()
                r = {"pattern": pattern, "param": f"{key}={size}",
                     "density": keep.float().mean().item(), "tile_density": _tile_density(keep, tile),
                     "max_abs_diff": err,
                     "sparse_ms": 1e3 * _median_time(sparse_fn, b["repeats"]),
                     "dense_ms": 1e3 * _median_time(dense_fn, b["repeats"]),
                     "sparse_MiB": mem_s.peak_bytes / 2**20, "dense_MiB": mem_d.peak_bytes / 2**20}
                res[pattern].append(r)
                rows.append({"pattern": pattern, "param": f"{key}={size}", "density": round(r["density"], 4),
                             "tile_density": round(r["tile_density"], 3), "max_abs_diff": f"{err:.1e}",
                             "sparse_ms": round(r["sparse_ms"], 2), "dense_ms": round(r["dense_ms"], 2),
                             "sparse_MiB": round(r["sparse_MiB"], 2), "dense_MiB": round(r["dense_MiB"], 2)})

    worst = max(r["max_abs_diff"] for rs in res.values() for r in rs)
    ratios = {}
    for pattern, rs in res.items():
        lo, hi = min(rs, key=lambda r: r["density"]), max(rs, key=lambda r: r["density"])
        ratios[pattern] = (lo, hi, lo["sparse_ms"] / hi["sparse_ms"])
    equal = worst <= TOL
    falls = {p: ratio <= MAX_RATIO for p, (_, _, ratio) in ratios.items()}
    held = equal and all(falls.values())

    fig, axes = subplots(1, 2, width=4.6)
    colors = {"local": "C0", "strided": "C1", "block": "C2"}
    for pattern, rs in res.items():
        xs = [r["density"] for r in rs]
        c = colors.get(pattern)
        axes[0, 0].plot(xs, [r["sparse_ms"] for r in rs], "o-", color=c, label=f"{pattern} sparse")
        axes[0, 0].plot(xs, [r["dense_ms"] for r in rs], "x--", color=c, alpha=0.6, label=f"{pattern} dense+mask")
        axes[0, 1].plot(xs, [r["sparse_MiB"] for r in rs], "o-", color=c, label=f"{pattern} sparse")
        axes[0, 1].plot(xs, [r["dense_MiB"] for r in rs], "x--", color=c, alpha=0.6, label=f"{pattern} dense+mask")
    axes[0, 0].set(xscale="log", xlabel="density (fraction of N×N kept)", ylabel="ms (forward)",
                   title=f"time, N={n}")
    axes[0, 1].set(xscale="log", xlabel="density (fraction of N×N kept)", ylabel="peak MiB allocated",
                   title=f"memory, N={n}")
    ticks = [0.01, 0.03, 0.1, 0.3, 1.0]
    for a in axes[0]:
        a.set_xticks(ticks, [f"{t:g}" for t in ticks], minor=False)
        a.set_xticks([], minor=True)
        a.legend(fontsize=6)
    ctx.figure("density", fig, caption=(f"Forward time and peak tensor memory vs density, sparse (flash tiles of "
                                        f"{tile}, empty tiles skipped) vs dense attention with the same mask."))

    desc = "; ".join(
        f"{p}: {lo['sparse_ms']:.1f} ms at density {lo['density']:.3f} (tiles {lo['tile_density']:.2f}) vs "
        f"{hi['sparse_ms']:.1f} ms at {hi['density']:.3f} (tiles {hi['tile_density']:.2f}) = {ratio:.2f}x "
        f"({'ok' if falls[p] else 'FAILS'})"
        for p, (lo, hi, ratio) in ratios.items())
    reason = (f"Rule: max |sparse - dense| <= {TOL:g} everywhere and, per pattern, sparse time at the lowest "
              f"density <= {MAX_RATIO}x the time at the highest. Worst difference {worst:.1e} "
              f"({'ok' if equal else 'FAILS'}). N={n}: {desc}.")
    notes = ("The sparse path skips only (tile, tile) blocks with no kept entry, so its work follows the tile "
             "density, not the element density: a strided pattern puts a kept column in nearly every tile, "
             "so thinning it does not make it cheaper. Peak memory of the sparse path is O(N·D) plus the "
             "N×N bool mask whatever the density; dense attention holds N×N float scores.")
    return CardResult(table=rows, held=held, reason=reason, notes=notes,
                      extra={"n": n, "tile": tile, "results": res, "worst_abs_diff": worst})
