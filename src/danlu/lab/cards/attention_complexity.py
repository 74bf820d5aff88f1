"""att-complexity: time and peak memory vs N for softmax, flash, linear (chunked) and Performer attention.

Forward pass, B = H = 1, head dim D, float32, CPU. Peak memory counts the bytes of every tensor
torch allocates during the call (:class:`danlu.kernels.memory.TensorMemoryTracker`; inputs excluded),
so it is deterministic and means the same thing on any machine. Time is the median of a few runs.
Slopes are least-squares fits of log(metric) on log(N) over the largest half of the N grid, where
fixed overheads no longer dominate. O(N²) means a slope near 2, O(N) near 1.
"""

from __future__ import annotations

import math
import statistics
import time

import torch

from danlu.lab import CardContext, CardResult, card


def _slope(ns: list[int], ys: list[float]) -> float:
    xs, ls = [math.log(n) for n in ns], [math.log(max(y, 1e-12)) for y in ys]
    mx, my = sum(xs) / len(xs), sum(ls) / len(ls)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ls)) / sum((a - mx) ** 2 for a in xs)


def _methods(d: int):
    from danlu.kernels import flash_attention, linear_attention
    from danlu.kernels.linear_attention import PerformerFeatureMap

    phi = PerformerFeatureMap(d, num_features=d, seed=0)
    return {
        "softmax (naive)": lambda q, k, v: flash_attention(q, k, v, causal=True, backend="naive"),
        "flash reference": lambda q, k, v: flash_attention(q, k, v, causal=True, backend="reference",
                                                           block_q=256, block_k=256),
        "linear (chunked)": lambda q, k, v: linear_attention(q, k, v, causal=True, backend="chunked",
                                                             chunk_size=64),
        "performer": lambda q, k, v: linear_attention(q * 0.5, k * 0.5, v, causal=True, feature_map=phi,
                                                      backend="chunked", chunk_size=64),
    }


@card(
    id="att-complexity",
    title="Attention cost vs sequence length",
    claim=("Softmax attention's time and memory grow as N², the flash reference keeps memory linear in N, "
           "and linear and Performer attention are linear in N in both time and memory."),
    source="note 002: FlashAttention and linear attention (complexity)",
    area="attention",
    quick={"ns": [256, 512, 1024, 2048, 4096], "d": 64, "repeats": 2},
    full={"ns": [256, 512, 1024, 2048, 4096, 8192, 16384], "repeats": 3},
)
def att_complexity(ctx: CardContext) -> CardResult:
    from danlu.kernels.memory import TensorMemoryTracker
    from danlu.plotting import subplots

    b = ctx.budget
    ns, d = list(b["ns"]), b["d"]
    methods = _methods(d)
    times: dict[str, list[float]] = {m: [] for m in methods}
    mems: dict[str, list[float]] = {m: [] for m in methods}
    rows = []
    with torch.no_grad():
        for n in ns:
            g = torch.Generator().manual_seed(ctx.seed)
            q, k, v = (torch.randn(1, 1, n, d, generator=g).to(ctx.device) for _ in range(3))
            for name, fn in methods.items():
                with TensorMemoryTracker() as mem:
                    fn(q, k, v)
                ts = []
                for _ in range(b["repeats"]):
                    t0 = time.perf_counter()
                    fn(q, k, v)
                    ts.append(time.perf_counter() - t0)
                times[name].append(statistics.median(ts))
                mems[name].append(mem.peak_bytes)
                rows.append({"N": n, "method": name, "seconds": times[name][-1], "peak_MiB": mem.peak_bytes / 2**20})
    half = len(ns) // 2
    tail = ns[half:]
    slopes = {m: (_slope(tail, times[m][half:]), _slope(tail, mems[m][half:])) for m in methods}
    for m, (ts, ms) in slopes.items():
        rows.append({"N": f"slope {tail[0]}..{tail[-1]}", "method": m, "seconds": round(ts, 2), "peak_MiB": round(ms, 2)})
    naive_t, naive_m = slopes["softmax (naive)"]
    held = (naive_t > 1.5 and naive_m > 1.7 and slopes["flash reference"][1] < 1.3
            and all(slopes[m][0] < 1.4 and slopes[m][1] < 1.3 for m in ("linear (chunked)", "performer")))

    fig, axes = subplots(1, 2, width=4.6)
    for name in methods:
        axes[0, 0].loglog(ns, times[name], "o-", label=f"{name} (slope {slopes[name][0]:.2f})")
        axes[0, 1].loglog(ns, [m / 2**20 for m in mems[name]], "o-", label=f"{name} (slope {slopes[name][1]:.2f})")
    axes[0, 0].set(xlabel="N", ylabel="seconds (forward)", title="time")
    axes[0, 1].set(xlabel="N", ylabel="peak MiB allocated", title="memory")
    for a in axes[0]:
        a.set_xticks(ns, [str(n) for n in ns], minor=False)
        a.set_xticks([], minor=True)
        a.legend(fontsize=7)
    ctx.figure("loglog", fig, caption="Forward time and peak tensor memory vs N (log-log) with fitted slopes.")
    desc = ", ".join(f"{m}: time {t:.2f}, memory {s:.2f}" for m, (t, s) in slopes.items())
    return CardResult(table=rows, held=held,
                      reason=f"log-log slopes over N={tail[0]}..{tail[-1]}: {desc}.",
                      notes="Flash reference time stays O(N²) by design (exact attention); its claim is memory.",
                      extra={"ns": ns, "times": times, "peak_bytes": mems})
