"""Measure dense matmul FLOP/s and memory bandwidth, and place them on a roofline.

The roofline model (Williams, Waterman & Patterson 2009, "Roofline: an insightful visual
performance model", CACM 52(4)) bounds a kernel's throughput by
``min(peak FLOP/s, bandwidth x arithmetic intensity)``, intensity being FLOPs per byte moved.
Here both ceilings are *measured*: the compute ceiling by the fastest large matmul and the memory
ceiling by a large copy, so the figure shows what this machine actually does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from danlu.systems.peaks import Peak, cpu_nominal_peak, gpu_peak


@dataclass
class KernelPoint:
    """One measured kernel: FLOP/s achieved at an arithmetic intensity (FLOP/byte)."""

    name: str
    flops: float          # FLOPs per call
    bytes: float          # bytes moved per call (compulsory traffic: inputs read once, output written once)
    seconds: float        # best time per call
    dtype: str

    @property
    def intensity(self) -> float:
        return self.flops / self.bytes

    @property
    def flops_per_s(self) -> float:
        return self.flops / self.seconds

    @property
    def bytes_per_s(self) -> float:
        return self.bytes / self.seconds


@dataclass
class HardwareReport:
    """What `danlu info` measures for one device."""

    device: str
    device_name: str
    dtype: str
    matmul: list[KernelPoint]
    copy: KernelPoint
    add: KernelPoint
    peak: Peak | None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def peak_flops_measured(self) -> float:
        return max(p.flops_per_s for p in self.matmul)

    @property
    def bandwidth_measured(self) -> float:
        return self.copy.bytes_per_s

    def to_json(self) -> dict[str, Any]:
        pts = [{**asdict(p), "intensity": p.intensity, "flops_per_s": p.flops_per_s} for p in self.matmul]
        return {
            "device": self.device, "device_name": self.device_name, "dtype": self.dtype,
            "matmul": pts, "copy_GBps": self.copy.bytes_per_s / 1e9, "add_GBps": self.add.bytes_per_s / 1e9,
            "matmul_peak_measured_TFLOPs": self.peak_flops_measured / 1e12,
            "peak": None if self.peak is None else {
                "name": self.peak.name, "flops": self.peak.flops, "bandwidth": self.peak.bandwidth,
                "source": self.peak.source},
            **self.extra,
        }


def roofline(intensity: float, peak_flops: float, bandwidth: float) -> float:
    """Attainable FLOP/s at ``intensity`` FLOP/byte: ``min(peak_flops, bandwidth * intensity)``."""
    return min(peak_flops, bandwidth * intensity)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _best_time(fn: Callable[[], Any], device: torch.device, min_time: float, min_reps: int = 3) -> float:
    """Best wall time of ``fn`` over repeats lasting at least ``min_time`` seconds in total."""
    fn()
    _sync(device)  # warm-up (allocations, kernel selection)
    best, total, reps = float("inf"), 0.0, 0
    while total < min_time or reps < min_reps:
        t0 = time.perf_counter()
        fn()
        _sync(device)
        dt = time.perf_counter() - t0
        best, total, reps = min(best, dt), total + dt, reps + 1
    return best


def measure_matmul(n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                   min_time: float = 0.2) -> KernelPoint:
    """Time ``C = A @ B`` for (n, n) matrices: 2n³ FLOPs, 3n² elements moved."""
    device = torch.device(device)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    sec = _best_time(lambda: torch.mm(a, b, out=out), device, min_time)
    esize = a.element_size()
    return KernelPoint(f"matmul n={n}", 2.0 * n**3, 3.0 * n * n * esize, sec, str(dtype).replace("torch.", ""))


def measure_bandwidth(*, nbytes: int = 256 * 2**20, device: torch.device | str = "cpu",
                      min_time: float = 0.2) -> KernelPoint:
    """Time a large copy ``dst.copy_(src)``: ``2 * nbytes`` moved (read + write), no FLOPs (counted as 1)."""
    device = torch.device(device)
    n = nbytes // 4
    src = torch.ones(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    sec = _best_time(lambda: dst.copy_(src), device, min_time)
    return KernelPoint("copy", 1.0, 2.0 * n * 4, sec, "float32")


def measure_elementwise(*, nbytes: int = 256 * 2**20, device: torch.device | str = "cpu",
                        min_time: float = 0.2) -> KernelPoint:
    """Time ``c = a + b`` over ``nbytes`` per array: 1 FLOP per element, 12 bytes per element (fp32)."""
    device = torch.device(device)
    n = nbytes // 4
    a = torch.ones(n, device=device)
    b = torch.ones(n, device=device)
    c = torch.empty_like(a)
    sec = _best_time(lambda: torch.add(a, b, out=c), device, min_time)
    return KernelPoint("add", float(n), 12.0 * n, sec, "float32")


def machine_report(device: torch.device | str = "cpu", *, sizes: Sequence[int] | None = None,
                   dtype: torch.dtype | None = None, min_time: float = 0.15,
                   nbytes: int | None = None) -> HardwareReport:
    """Measure matmul FLOP/s over ``sizes`` and copy/add bandwidth on ``device``.

    Defaults: fp32 on CPU with sizes 64..1024 and 128 MiB arrays; bf16 on CUDA with sizes
    256..8192 and 1 GiB arrays.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if cuda else torch.float32)
    sizes = list(sizes or ((256, 512, 1024, 2048, 4096, 8192) if cuda else (64, 128, 256, 512, 1024)))
    nbytes = nbytes or (2**30 if cuda else 128 * 2**20)
    mm = [measure_matmul(n, dtype=dtype, device=device, min_time=min_time) for n in sizes]
    copy = measure_bandwidth(nbytes=nbytes, device=device, min_time=min_time)
    add = measure_elementwise(nbytes=nbytes, device=device, min_time=min_time)
    if cuda:
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak(name)
    else:
        import platform

        name = platform.processor() or platform.machine()
        peak = cpu_nominal_peak(torch.get_num_threads())
    return HardwareReport(str(device), name, str(dtype).replace("torch.", ""), mm, copy, add, peak,
                          extra={"threads": torch.get_num_threads()})


def plot_roofline(reports: Sequence[HardwareReport], ax: Any = None) -> Any:
    """Draw measured rooflines (compute and bandwidth ceilings) and the measured kernels; returns the figure."""
    from danlu.plotting import subplots

    if ax is None:
        fig, axes = subplots(1, 1, width=6.2, height=4.2)
        ax = axes[0][0]
    fig = ax.figure
    colors = ["tab:blue", "tab:orange", "tab:green"]
    for rep, color in zip(reports, colors):
        pts = [*rep.matmul, rep.add]
        lo = min(p.intensity for p in pts) / 4
        hi = max(p.intensity for p in pts) * 4
        xs = [lo * (hi / lo) ** (i / 200) for i in range(201)]
        peak, bw = rep.peak_flops_measured, rep.bandwidth_measured
        ax.plot(xs, [roofline(x, peak, bw) for x in xs], color=color, lw=2,
                label=f"{rep.device} measured roofline ({peak / 1e9:.0f} GFLOP/s, {bw / 1e9:.0f} GB/s)")
        if rep.peak is not None and rep.dtype in rep.peak.flops:
            pf = rep.peak.flops[rep.dtype]
            pb = rep.peak.bandwidth or bw
            ax.plot(xs, [roofline(x, pf, pb) for x in xs], color=color, lw=1, ls="--",
                    label=f"{rep.peak.name} peak ({rep.peak.source.split(':')[0]})")
        ax.scatter([p.intensity for p in rep.matmul], [p.flops_per_s for p in rep.matmul], color=color,
                   marker="o", zorder=3, label=f"matmul {rep.dtype} (n = {rep.matmul[0].name.split('=')[1]}…"
                                                f"{rep.matmul[-1].name.split('=')[1]})")
        ax.scatter([rep.add.intensity], [rep.add.flops_per_s], color=color, marker="s", zorder=3,
                   label="elementwise add")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("FLOP/s")
    ax.set_title("Roofline: measured ceilings and kernels")
    ax.legend(fontsize=7, loc="lower right")
    return fig
