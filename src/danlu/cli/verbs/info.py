"""``danlu info``: the machine as a deep-learning user sees it, with measured numbers."""

from __future__ import annotations

import argparse

NAME = "info"
HELP = "show CPU/GPU, versions, and MEASURED matmul FLOP/s and memory bandwidth (roofline)"
DESCRIPTION = """\
Describe this machine for deep learning: CPU threads, torch/CUDA/Triton versions, GPU name,
and measured dense-matmul FLOP/s (fp32 on CPU; bf16 and fp16 on GPU) and memory bandwidth,
beside the device's peak where known (datasheet for GPUs, a labelled estimate for CPUs).

examples:
  danlu info
  danlu info --plot roofline.png      # also draw the roofline
  danlu info --json                   # machine-readable
  danlu info --device cpu --time 0.05 # faster, noisier
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                   help="what to measure: auto = CPU, plus the GPU if CUDA is available (default)")
    p.add_argument("--plot", metavar="FILE", help="write a roofline figure to FILE (format from the extension: "
                   "png, pdf, svg, ...)")
    p.add_argument("--overwrite", action="store_true", help="replace the --plot file if it exists")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.add_argument("--time", type=float, default=0.15, metavar="S",
                   help="minimum seconds spent timing each kernel (default 0.15)")


def versions() -> dict[str, str | int | bool | None]:
    """Versions and counts, with JSON types: strings for versions and names, ``cuda available`` a
    bool, core and thread counts ints, ``None`` where a piece is absent (CUDA in a CPU build of
    torch, Triton not installed)."""
    import importlib.util
    import os
    import platform

    import torch

    out: dict[str, str | int | bool | None] = {
        "python": platform.python_version(), "torch": torch.__version__,
        "cuda (torch build)": torch.version.cuda, "cuda available": torch.cuda.is_available(),
        "cpu": platform.processor() or platform.machine(),
        "cpu cores (os)": os.cpu_count(), "torch threads": torch.get_num_threads()}
    if torch.backends.cudnn.is_available():
        out["cudnn"] = torch.backends.cudnn.version()
    if importlib.util.find_spec("triton") is not None:
        import triton

        out["triton"] = triton.__version__
    else:
        out["triton"] = None
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            out[f"gpu {i}"] = f"{props.name}, {props.total_memory / 2**30:.0f} GiB, sm_{props.major}{props.minor}"
    return out


def _shown(key: str, value: str | int | bool | None) -> str:
    """How the table shows a value of :func:`versions`."""
    if value is None:
        return "none (CPU build)" if key == "cuda (torch build)" else "absent"
    return str(value)


def run(args: argparse.Namespace) -> int:
    import json

    import torch
    from rich.console import Console
    from rich.table import Table

    from danlu.cli.paths import check_figure_path, save_figure
    from danlu.errors import UsageError
    from danlu.runtime import resolve_device
    from danlu.systems.hardware import machine_report, plot_roofline

    if not args.time > 0:
        raise UsageError(f"--time must be positive, got {args.time}")
    if args.plot:
        check_figure_path(args.plot, overwrite=args.overwrite)
    devices = ["cpu"] if args.device == "cpu" else [] if args.device == "cuda" else ["cpu"]
    if args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available()):
        devices.append(str(resolve_device("cuda")))
    console = Console(stderr=args.json)
    reports = []
    with console.status("measuring matmul FLOP/s and memory bandwidth ..."):
        for dev in devices:
            reports.append(machine_report(dev, min_time=args.time))
            if dev.startswith("cuda"):
                reports.append(machine_report(dev, dtype=torch.float16, min_time=args.time))
    if args.plot:
        save_figure(plot_roofline(reports), args.plot)
    if args.json:
        print(json.dumps({"versions": versions(), "devices": [r.to_json() for r in reports]}, indent=2))
        return 0
    vt = Table(title="danlu info: software and hardware", show_header=False)
    for k, v in versions().items():
        vt.add_row(k, _shown(k, v))
    console.print(vt)
    mt = Table(title="measured dense matmul (best of repeats)")
    for col in ("device", "dtype", "n", "GFLOP/s", "of peak"):
        mt.add_column(col, justify="left" if col in ("device", "dtype") else "right")
    bt = Table(title="measured memory bandwidth and peaks")
    for col in ("device", "copy GB/s", "add GB/s", "peak GFLOP/s", "peak GB/s", "peak source"):
        bt.add_column(col, justify="left" if col in ("device", "peak source") else "right", overflow="fold")
    for r in reports:
        pk = r.peak.flops.get(r.dtype) if r.peak else None
        for i, p in enumerate(r.matmul):
            frac = f"{p.flops_per_s / pk:.0%}" if pk else "n/a"
            mt.add_row(r.device if i == 0 else "", r.dtype if i == 0 else "", p.name.split("=")[1],
                       f"{p.flops_per_s / 1e9:,.1f}", frac)
        bt.add_row(f"{r.device} ({r.dtype})", f"{r.copy.bytes_per_s / 1e9:,.1f}", f"{r.add.bytes_per_s / 1e9:,.1f}",
                   f"{pk / 1e9:,.0f}" if pk else "unknown",
                   f"{r.peak.bandwidth / 1e9:,.0f}" if (r.peak and r.peak.bandwidth) else "unknown",
                   r.peak.source if r.peak else "no datasheet entry")
    console.print(mt)
    console.print(bt)
    if args.plot:
        console.print(f"roofline written to {args.plot}")
    return 0
