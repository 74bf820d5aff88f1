"""sys-hw: CPU vs GPU vs accelerator throughput, measured and placed on a roofline (note 001).

The compute ceiling the kernels are judged against is *independent* of them: the datasheet peak
on a GPU (``danlu.systems.peaks``), and on a CPU a nominal estimate, threads x max clock x SIMD
lanes x 2 (FMA) x 2 (FMA units), labelled as such (the same figure `danlu info` shows). Every
kernel is timed in interleaved rounds (``danlu.systems.hardware``), so each number has an interval,
and the CPU share of the timing says whether another process held the cores.
"""

from __future__ import annotations

import math

from danlu.lab import CardContext, CardResult, card
from danlu.lab.evidence import Decision, Estimate, all_of, decide

MATMUL_OF_PEAK = 0.25  # the largest matmul must reach this fraction of the independent ceiling
GROWTH = 1.5  # matmul FLOP/s from the smallest to the largest n
ADD_OF_PEAK = 0.05  # the elementwise add must stay below this fraction of the fp32 ceiling
ADD_OF_BANDWIDTH = (0.3, 2.0)  # the add's bytes/s over the bandwidth ceiling


def sys_hw_rule(matmul_of_peak: Estimate | None, growth: Estimate, add_of_peak: Estimate | None,
                add_of_bandwidth: Estimate, cpu_share: float | None) -> Decision:
    """Judged against an independent compute ceiling (the datasheet peak on a GPU; on a CPU the nominal
    estimate threads x clock x SIMD lanes x 2 FMA x 2 units), on intervals over the timing rounds.
    Held when all four hold:
    (a) the largest matmul reaches more than 25% of the ceiling (interval of its fraction above 0.25).
        The nominal CPU figure can be 2-3x above the true peak (one 512-bit FMA unit, AVX clock
        drop, SMT siblings counted as cores) and torch's sgemm reaches 70-90% of the true peak, so
        25% is what a compute-bound matmul clears; a measurement that is not compute-bound (or a
        machine whose cores are busy) does not;
    (b) matmul FLOP/s grows more than 1.5x from the smallest to the largest n (interval of the
        log-ratio above log 1.5): small n is bound by call overhead and low intensity;
    (c) the elementwise add stays below 5% of the fp32 ceiling (interval below 0.05): at 1/12
        FLOP/byte it would need a bandwidth of 0.6 byte per peak FLOP to get there;
    (d) the add is bandwidth-bound: its bytes/s is 0.3-2x the bandwidth ceiling (datasheet on a
        GPU, the measured copy on a CPU; interval of the log-ratio inside [log 0.3, log 2]). The add
        has two read streams to the copy's one (more misses in flight per core) and the counted
        bytes leave out write-allocate traffic (add: 12 counted of 16 moved, copy: 8 of 12), so on
        one core the add's counted bytes/s was seen at 1.0-1.5x the copy's; a compute-bound add
        would be ~100x.
    Not held when a part's interval lies wholly on the wrong side. Inconclusive when no independent
    ceiling is known (an unknown GPU, a CPU without /proc/cpuinfo: parts (a) and (c) are None),
    when an interval straddles its margin, or when the CPU timings were contended (cpu_share below
    0.75: the process got less than 75% of its threads' CPU time, so the numbers describe the load,
    not the hardware).
    """
    if cpu_share is not None and cpu_share < 0.75:
        return None
    lo, hi = ADD_OF_BANDWIDTH
    return all_of(
        None if matmul_of_peak is None else decide(matmul_of_peak, MATMUL_OF_PEAK),
        decide(growth, math.log(GROWTH)),
        None if add_of_peak is None else decide(add_of_peak, ADD_OF_PEAK, higher_is_better=False),
        decide(add_of_bandwidth, math.log(lo)), decide(add_of_bandwidth, math.log(hi), higher_is_better=False),
    )


def _exp_text(e: Estimate, what: str = "rounds") -> str:
    """A log-ratio estimate as ``0.95x (0.90-1.01x, 95% CI, 5 rounds)``."""
    from danlu.lab.evidence import ratio_text

    return ratio_text(e, what)


@card(
    id="sys-hw",
    title="Measured FLOP/s, bandwidth and the roofline",
    claim=("Throughput follows the roofline: a low-intensity elementwise op is capped by memory bandwidth "
           "far below the device's compute peak, and dense matmul approaches that peak as its size "
           "(arithmetic intensity) grows."),
    source="note 001: CPU vs GPU vs accelerators (multi-GPU chapter)",
    area="systems",
    quick={"sizes": [32, 64, 128, 256, 512], "min_time": 0.05, "mib": 64, "rounds": 5},
    full={"sizes": [32, 64, 128, 256, 512, 1024, 2048], "min_time": 0.3, "mib": 512, "rounds": 7},
    rule=sys_hw_rule,
)
def sys_hw(ctx: CardContext) -> CardResult:
    import torch

    from danlu.lab.evidence import estimate
    from danlu.systems.hardware import CONTENDED_SHARE, machine_report, plot_roofline, roofline

    b = ctx.budget
    sizes = b["sizes"] if ctx.device.type == "cpu" else [s * 8 for s in b["sizes"]]
    rep = machine_report(ctx.device, sizes=sizes, min_time=b["min_time"], nbytes=b["mib"] * 2**20,
                         rounds=int(b["rounds"]))
    peak = rep.peak.flops.get(rep.dtype) if rep.peak else None
    peak32 = rep.peak.flops.get("float32") if rep.peak else None
    ceiling = rep.peak.name + (" (nominal estimate)" if rep.device.startswith("cpu") else " (datasheet)") \
        if rep.peak else "no independent peak known"
    bw_known = bool(rep.peak and rep.peak.bandwidth)
    copy_bw = [rep.copy.bytes / t for t in rep.copy.samples]  # per round
    bw = [rep.peak.bandwidth] * len(copy_bw) if bw_known else copy_bw
    small, large, add = rep.matmul[0], rep.matmul[-1], rep.add

    matmul_of_peak = estimate([large.flops / t / peak for t in large.samples]) if peak else None
    growth = estimate([math.log((large.flops / tl) / (small.flops / ts)) for tl, ts in zip(large.samples, small.samples)])
    add_of_peak = estimate([add.flops / t / peak32 for t in add.samples]) if peak32 else None
    add_of_bw = estimate([math.log((add.bytes / t) / c) for t, c in zip(add.samples, bw)])
    share = rep.cpu_share
    held = sys_hw_rule(matmul_of_peak, growth, add_of_peak, add_of_bw, share)

    def row(p, ceiling_flops):
        med = sorted(p.samples)[len(p.samples) // 2]
        return {"kernel": p.name, "dtype": p.dtype, "FLOP/byte": p.intensity, "GFLOP/s best": p.flops_per_s / 1e9,
                "GFLOP/s median": p.flops / med / 1e9, "GB/s": p.bytes_per_s / 1e9,
                "of compute ceiling": p.flops_per_s / ceiling_flops if ceiling_flops else None,
                "CPU share": p.cpu_share}

    table = [row(p, peak) for p in rep.matmul] + [row(add, peak32)]
    table.append({"kernel": "copy", "dtype": "float32", "GB/s": rep.copy.bytes_per_s / 1e9,
                  "GB/s median": rep.copy.bytes / sorted(rep.copy.samples)[len(copy_bw) // 2] / 1e9,
                  "CPU share": rep.copy.cpu_share})
    table.append({"kernel": f"compute ceiling: {ceiling}", "dtype": rep.dtype,
                  "GFLOP/s best": None if peak is None else peak / 1e9})
    table.append({"kernel": "bandwidth ceiling: " + ("datasheet" if bw_known else "the measured copy"),
                  "GB/s": (rep.peak.bandwidth if bw_known else rep.copy.bytes_per_s) / 1e9})
    ctx.figure("roofline", plot_roofline([rep]),
               caption="Measured ceilings (solid: best matmul, copy bandwidth), the independent peak (dashed: "
                       "datasheet, or the nominal CPU estimate), measured kernels (points, best of "
                       f"{b['rounds']} rounds).")

    parts = []
    if matmul_of_peak is not None:
        parts.append(f"the largest matmul (n={sizes[-1]}) reached {matmul_of_peak.scaled(100).describe(unit='%', what='rounds', digits=0, sign=False)} "
                     f"of the {ceiling} {peak / 1e9:,.0f} GFLOP/s (needs > {MATMUL_OF_PEAK:.0%})")
    else:
        parts.append(f"no independent compute peak is known for {rep.device_name}, so matmul and the add "
                     "cannot be placed against one")
    parts.append(f"matmul FLOP/s grew {_exp_text(growth)} from n={sizes[0]} to n={sizes[-1]} (needs > {GROWTH}x)")
    if add_of_peak is not None:
        parts.append(f"the add ran at {add_of_peak.scaled(100).describe(unit='%', what='rounds', digits=2, sign=False)} "
                     f"of the fp32 ceiling (needs < {ADD_OF_PEAK:.0%})")
    parts.append(f"its bytes/s was {_exp_text(add_of_bw)} the {'datasheet' if bw_known else 'copy'} bandwidth "
                 f"(needs {ADD_OF_BANDWIDTH[0]}-{ADD_OF_BANDWIDTH[1]}x)")
    reason = "; ".join(parts) + "."
    threads = torch.get_num_threads()
    if share is not None:
        reason += (f" The process got {share:.0%} of its {threads} torch thread(s)' CPU time while timing"
                   + (f" (below {CONTENDED_SHARE:.0%}: another process held the cores, so these timings describe "
                      "the load, not the machine; inconclusive)." if share < CONTENDED_SHARE else "."))
    effects = {"growth, smallest to largest matmul": (growth, _exp_text(growth)),
               "add bytes/s over the bandwidth ceiling": (add_of_bw, _exp_text(add_of_bw))}
    if matmul_of_peak is not None:
        effects["largest matmul, fraction of the compute ceiling"] = (
            matmul_of_peak, matmul_of_peak.describe(what="rounds", digits=3, sign=False))
    if add_of_peak is not None:
        effects["add, fraction of the fp32 ceiling"] = (add_of_peak, add_of_peak.describe(what="rounds", digits=4,
                                                                                         sign=False))
    roof = roofline(large.intensity, rep.peak_flops_measured, rep.bandwidth_measured)
    notes = (f"Copy bandwidth {rep.copy.bytes_per_s / 1e9:.1f} GB/s; best matmul {rep.peak_flops_measured / 1e9:.1f} "
             f"GFLOP/s ({large.flops_per_s / roof:.0%} of the measured roofline at its intensity). "
             f"{threads} torch thread(s); 1-minute load average {rep.extra.get('load_average_1min', float('nan')):.1f}.")
    return CardResult(table=table, held=held, reason=reason, notes=notes, effects=effects, extra=rep.to_json())
