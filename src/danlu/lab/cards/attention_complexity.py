"""att-complexity: time and peak memory vs N for softmax, flash, linear (chunked) and Performer attention.

Forward pass, B = H = 1, head dim D, float32, causal, on the card's device. Peak memory counts
the bytes of every tensor torch allocates during the call
(:class:`danlu.kernels.memory.TensorMemoryTracker`; inputs excluded), so it is deterministic and
means the same thing on any machine: its slope needs no interval. Time is wall-clock and moves
with machine load, so it is measured in ``repeats`` rounds; each round times every (N, method)
interleaved, after one warm-up call each (the fastest of ``calls`` back-to-back calls: another
process can only add time), and gives one least-squares slope of log(time)
on log(N) per method over the largest half of the N grid (where fixed overheads no longer
dominate). The time slope is the mean over rounds with its 95% t interval. O(N²) means a slope
near 2, O(N) near 1.

On a CPU device "time" is the CPU time of the calling thread with torch limited to one thread
(:mod:`danlu.lab.cards._attention_common`), not wall time: on a shared machine a long call is
preempted more often than a short one, so wall time inflates with N and bends the slope upward
(att-complexity was held with the machine idle and not held while another lab ran beside it).
On a GPU it is wall time between synchronizations.
"""

from __future__ import annotations

import statistics

import torch

from danlu.lab import CardContext, CardResult, card
from danlu.lab.cards._attention_common import best_of, loglog_slope
from danlu.lab.evidence import Decision, Estimate, all_of, decide, estimate
from danlu.lab.threads import one_thread, single_threaded

MID = 1.5          # between linear (1) and quadratic (2)
MEM_QUAD = 1.7     # memory slopes are exact: quadratic above this
MEM_LINEAR = 1.3   # linear below this
METHODS = ("softmax (naive)", "flash reference", "linear (chunked)", "performer")


def verdict(time_softmax: Estimate, time_linear: Estimate, time_performer: Estimate, mem_softmax: float,
            mem_flash: float, mem_linear: float, mem_performer: float) -> Decision:
    """Held iff: the 95% interval of naive softmax's time slope lies wholly above 1.5 and its memory
    slope exceeds 1.7 (quadratic); flash reference's memory slope is below 1.3 (linear); and for
    linear (chunked) and Performer attention the time-slope interval lies wholly below 1.5 and the
    memory slope is below 1.3. Not held if a memory slope misses its bound or a time-slope interval
    lies wholly on the wrong side of 1.5; inconclusive if a time-slope interval contains 1.5.

    Margin: 1.5 is midway between linear (1) and quadratic (2), i.e. 0.5 from either ideal slope;
    repeated rounds on a loaded 2-core machine move one round's slope by about ±0.2, which the
    interval carries, so machine load widens the interval (inconclusive) instead of flipping the
    verdict. Memory slopes are exact counts of allocated bytes (no interval).
    """
    return all_of(decide(time_softmax, MID), mem_softmax > MEM_QUAD, mem_flash < MEM_LINEAR,
                  decide(time_linear, MID, higher_is_better=False), mem_linear < MEM_LINEAR,
                  decide(time_performer, MID, higher_is_better=False), mem_performer < MEM_LINEAR)


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
    quick={"ns": [256, 512, 1024, 2048, 4096], "d": 64, "repeats": 5, "calls": 2},
    full={"ns": [256, 512, 1024, 2048, 4096, 8192, 16384], "repeats": 8},
    rule=verdict,
)
@single_threaded
def att_complexity(ctx: CardContext) -> CardResult:
    from danlu.kernels.memory import TensorMemoryTracker
    from danlu.plotting import subplots

    b = ctx.budget
    ns, d = list(b["ns"]), b["d"]
    methods = _methods(d)
    g = torch.Generator().manual_seed(ctx.seed)
    inputs = {n: tuple(torch.randn(1, 1, n, d, generator=g).to(ctx.device) for _ in range(3)) for n in ns}
    mems: dict[str, list[float]] = {m: [] for m in methods}
    times: dict[str, list[list[float]]] = {m: [[] for _ in ns] for m in methods}   # [method][n index][round]
    with torch.no_grad(), one_thread(ctx.device):
        for n in ns:
            for name, fn in methods.items():
                with TensorMemoryTracker() as mem:                                 # also the warm-up call
                    fn(*inputs[n])
                mems[name].append(mem.peak_bytes)
        for _ in range(b["repeats"]):
            for i, n in enumerate(ns):
                for name, fn in methods.items():
                    times[name][i].append(best_of(lambda fn=fn, n=n: fn(*inputs[n]), ctx.device, b["calls"]))
    half = len(ns) // 2
    tail = ns[half:]
    t_slope = {m: estimate([loglog_slope(tail, [times[m][i][r] for i in range(half, len(ns))]) for r in range(b["repeats"])])
               for m in methods}
    m_slope = {m: loglog_slope(tail, mems[m][half:]) for m in methods}
    held = verdict(t_slope["softmax (naive)"], t_slope["linear (chunked)"], t_slope["performer"],
                   m_slope["softmax (naive)"], m_slope["flash reference"], m_slope["linear (chunked)"],
                   m_slope["performer"])
    rows = []
    for i, n in enumerate(ns):
        for m in methods:
            rows.append({"N": n, "method": m, "median ms": round(1e3 * statistics.median(times[m][i]), 3),
                         "peak MiB": round(mems[m][i] / 2**20, 3)})
    for m in methods:
        rows.append({"N": f"slope {tail[0]}..{tail[-1]}", "method": m,
                     "median ms": t_slope[m].describe(what="rounds", sign=False),
                     "peak MiB": round(m_slope[m], 2)})

    med = {m: [statistics.median(times[m][i]) for i in range(len(ns))] for m in methods}
    fig, axes = subplots(1, 2, width=4.8)
    marks = {"softmax (naive)": "o-", "flash reference": "s--", "linear (chunked)": "^-.", "performer": "v:"}
    for c, name in enumerate(methods):
        lo = [min(times[name][i]) * 1e3 for i in range(len(ns))]
        hi = [max(times[name][i]) * 1e3 for i in range(len(ns))]
        axes[0, 0].fill_between(ns, lo, hi, color=f"C{c}", alpha=0.15)
        axes[0, 0].loglog(ns, [t * 1e3 for t in med[name]], marks[name], color=f"C{c}",
                          label=f"{name}: {t_slope[name].mean:.2f} ± {t_slope[name].half_width:.2f}")
        axes[0, 1].loglog(ns, [m / 2**20 for m in mems[name]], marks[name], color=f"C{c}", ms=7 - 1.2 * c,
                          label=f"{name}: {m_slope[name]:.2f}")
    axes[0, 0].set(xlabel="N", ylabel="ms (forward, CPU time on CPU)", title=f"time: median, band min-max of {b['repeats']} rounds")
    axes[0, 1].set(xlabel="N", ylabel="peak MiB allocated", title="memory (exact)")
    for a in axes[0]:
        a.set_xticks(ns, [str(n) for n in ns], minor=False)
        a.set_xticks([], minor=True)
        a.legend(fontsize=7, title="slope", title_fontsize=7)
    ctx.figure("loglog", fig, caption=("Forward time and peak tensor memory vs N (log-log); legends give the "
                                       "fitted slopes over the largest half of N (time: mean ± 95% CI over rounds)."))
    desc = "; ".join(f"{m}: time {t_slope[m].describe(what='rounds', sign=False)}, memory {m_slope[m]:.2f}"
                     for m in methods)
    return CardResult(
        table=rows, held=held,
        reason=(f"log-log slopes over N={tail[0]}..{tail[-1]}: {desc}. Quadratic needs a time slope above {MID} "
                f"(memory > {MEM_QUAD}), linear below {MID} (memory < {MEM_LINEAR})."),
        notes=("Flash reference time stays O(N²) by design (exact attention); its claim is memory. On a CPU device time is "
               "single-thread CPU time (load-independent); on a GPU, synchronized wall time."),
        effects={f"time slope, {m}": (t_slope[m], t_slope[m].describe(what="rounds", sign=False)) for m in methods},
        extra={"ns": ns, "times_s": times, "peak_bytes": mems},
    )
