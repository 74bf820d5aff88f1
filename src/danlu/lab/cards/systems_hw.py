"""sys-hw: CPU vs GPU vs accelerator throughput, measured and placed on a roofline (note 001)."""

from __future__ import annotations

from danlu.lab import CardContext, CardResult, card


@card(
    id="sys-hw",
    title="Measured FLOP/s, bandwidth and the roofline",
    claim=("Throughput follows the roofline: a low-intensity elementwise op is capped by memory bandwidth "
           "far below the compute ceiling, and dense matmul approaches the compute ceiling as its size "
           "(arithmetic intensity) grows."),
    source="note 001: CPU vs GPU vs accelerators (multi-GPU chapter)",
    area="systems",
    quick={"sizes": [32, 64, 128, 256, 512], "min_time": 0.05, "mib": 64},
    full={"sizes": [32, 64, 128, 256, 512, 1024, 2048], "min_time": 0.3, "mib": 512},
)
def sys_hw(ctx: CardContext) -> CardResult:
    from danlu.systems.hardware import machine_report, plot_roofline, roofline

    b = ctx.budget
    sizes = b["sizes"] if ctx.device.type == "cpu" else [s * 8 for s in b["sizes"]]
    rep = machine_report(ctx.device, sizes=sizes, min_time=b["min_time"], nbytes=b["mib"] * 2**20)
    peak, bw = rep.peak_flops_measured, rep.bandwidth_measured
    table = [{"kernel": p.name, "dtype": p.dtype, "FLOP/byte": p.intensity, "GFLOP/s": p.flops_per_s / 1e9,
              "roofline GFLOP/s": roofline(p.intensity, peak, bw) / 1e9,
              "of roofline": p.flops_per_s / roofline(p.intensity, peak, bw)} for p in [*rep.matmul, rep.add]]
    table.append({"kernel": "copy", "dtype": "float32", "FLOP/byte": 0.0, "GFLOP/s": 0.0,
                  "roofline GFLOP/s": 0.0, "of roofline": 1.0, "GB/s": bw / 1e9})
    ctx.figure("roofline", plot_roofline([rep]),
               caption="Measured ceilings (solid), nominal/datasheet peak (dashed), measured kernels (points).")

    add_frac_bw = rep.add.flops_per_s / (bw * rep.add.intensity)      # add vs bandwidth ceiling
    add_vs_peak = rep.add.flops_per_s / peak
    small, large = rep.matmul[0].flops_per_s, max(p.flops_per_s for p in rep.matmul[-2:])
    bandwidth_bound = 0.3 <= add_frac_bw <= 1.3 and add_vs_peak < 0.1
    grows = large >= 1.5 * small
    held = bandwidth_bound and grows
    reason = (f"elementwise add reached {add_frac_bw:.0%} of bandwidth x intensity and {add_vs_peak:.1%} of the "
              f"measured compute ceiling ({peak / 1e9:.0f} GFLOP/s); matmul grew from {small / 1e9:.1f} GFLOP/s "
              f"(n={sizes[0]}) to {large / 1e9:.1f} GFLOP/s (x{large / small:.1f}). Held requires the add within "
              f"30-130% of the bandwidth roof and under 10% of peak, and matmul to grow at least 1.5x.")
    notes = ""
    if rep.peak is not None:
        pk = rep.peak.flops.get(rep.dtype)
        if pk:
            notes = (f"Best matmul is {peak / pk:.0%} of {rep.peak.name} {rep.dtype} peak "
                     f"({rep.peak.source}). Copy bandwidth {bw / 1e9:.1f} GB/s.")
    return CardResult(table=table, held=held, reason=reason, notes=notes, extra=rep.to_json())
