"""Measure dense matmul FLOP/s and memory bandwidth, and place them on a roofline.

The roofline model (Williams, Waterman & Patterson 2009, "Roofline: an insightful visual
performance model", CACM 52(4)) bounds a kernel's throughput by
``min(peak FLOP/s, bandwidth x arithmetic intensity)``, intensity being FLOPs per byte moved.
Here both ceilings are *measured*: the compute ceiling by the fastest large matmul and the memory
ceiling by a large copy, so the figure shows what this machine actually does; the device's
independent peak (datasheet for GPUs, a labelled nominal estimate for CPUs) is drawn beside it.

How the timing works, and why (issue 22: a 34 GFLOP/s ceiling and 0.07 GFLOP/s at n=64 in a
full lab, against 197 GFLOP/s from ``danlu info``):

* each kernel is warmed up, then timed in *batches* of calls long enough for the timer
  (``calls`` per batch, one device sync per batch), so small kernels are not timer-bound;
* the kernels are timed in interleaved *rounds* (every kernel once per round), so load that
  comes and goes hits all of them alike, and each kernel has one sample per round to put an
  interval on;
* on the CPU, the process's CPU time over the timing is compared with wall time x torch threads
  (:attr:`HardwareReport.cpu_share`). With more torch threads than free cores (another process
  running), every OpenMP parallel region waits for a descheduled thread, for a scheduler slice of
  milliseconds: that is what turned n=64 into 0.07 GFLOP/s. Reproduced here: 2 threads beside one
  busy process gave n=128 at 0.3 GFLOP/s and a CPU share of 0.48. A share below
  :data:`CONTENDED_SHARE` marks the numbers as contended rather than as the machine's.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from danlu.systems.peaks import Peak, cpu_nominal_peak, gpu_peak

#: below this fraction of (wall time x torch threads) of CPU time, CPU timings are contended.
CONTENDED_SHARE = 0.75


@dataclass
class KernelPoint:
    """One measured kernel: FLOP/s achieved at an arithmetic intensity (FLOP/byte)."""

    name: str
    flops: float          # FLOPs per call
    bytes: float          # bytes moved per call (compulsory traffic: inputs read once, output written once)
    seconds: float        # best time per call (over the rounds)
    dtype: str
    samples: tuple[float, ...] = ()  # time per call of each timing round
    cpu_share: float | None = None   # CPU time / (wall x threads) while timing (CPU only)

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

    @property
    def cpu_share(self) -> float | None:
        """The smallest CPU share of the kernels that use every thread (the largest matmul, copy, add);
        None on a GPU. Below :data:`CONTENDED_SHARE` the timings were contended."""
        shares = [p.cpu_share for p in (self.matmul[-1], self.copy, self.add) if p.cpu_share is not None]
        return min(shares) if shares else None

    @property
    def contended(self) -> bool:
        """True when another process held the CPU cores during the timing (see the module docstring)."""
        share = self.cpu_share
        return share is not None and share < CONTENDED_SHARE

    def to_json(self) -> dict[str, Any]:
        pts = [{**asdict(p), "intensity": p.intensity, "flops_per_s": p.flops_per_s} for p in self.matmul]
        return {
            "device": self.device, "device_name": self.device_name, "dtype": self.dtype,
            "matmul": pts, "copy_GBps": self.copy.bytes_per_s / 1e9, "add_GBps": self.add.bytes_per_s / 1e9,
            "copy": asdict(self.copy), "add": asdict(self.add), "cpu_share": self.cpu_share,
            "contended": self.contended,
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


@dataclass
class _Kernel:
    """A kernel ready to time: ``fn()`` runs it once; FLOPs and bytes per call."""

    name: str
    fn: Callable[[], Any]
    flops: float
    bytes: float
    dtype: str


def _calls_per_batch(fn: Callable[[], Any], device: torch.device, batch_time: float) -> int:
    """Warm ``fn`` up (allocation, kernel selection, thread-pool start) and return how many calls
    make one timed batch last at least ``batch_time`` seconds (1, 2, 5, 10, 20, 50, ... calls)."""
    fn()
    _sync(device)
    steps = (1, 2, 5)
    i = 0
    while True:
        calls = steps[i % 3] * 10 ** (i // 3)
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        _sync(device)
        if time.perf_counter() - t0 >= batch_time or calls >= 10**6:
            return calls
        i += 1


def _time_kernels(kernels: Sequence[_Kernel], device: torch.device, min_time: float, rounds: int) -> list[KernelPoint]:
    """Time each kernel in ``rounds`` interleaved rounds, about ``min_time`` seconds per kernel in all.

    Returns one :class:`KernelPoint` per kernel with the time per call of every round (``samples``),
    the best of them (``seconds``) and, on the CPU, the CPU share while it ran.
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    batch_time = max(min_time / rounds, 1e-3)
    calls = [_calls_per_batch(k.fn, device, batch_time) for k in kernels]
    samples: list[list[float]] = [[] for _ in kernels]
    cpu, wall = [0.0] * len(kernels), [0.0] * len(kernels)
    for _ in range(rounds):
        for i, (k, n) in enumerate(zip(kernels, calls)):
            c0, t0 = time.process_time(), time.perf_counter()
            for _ in range(n):
                k.fn()
            _sync(device)
            dt = time.perf_counter() - t0
            cpu[i] += time.process_time() - c0
            wall[i] += dt
            samples[i].append(dt / n)
    threads = torch.get_num_threads()
    out = []
    for k, xs, c, w in zip(kernels, samples, cpu, wall):
        share = c / (w * threads) if device.type == "cpu" and w > 0 else None
        out.append(KernelPoint(k.name, k.flops, k.bytes, min(xs), k.dtype, tuple(xs), share))
    return out


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


def _matmul_kernel(n: int, dtype: torch.dtype, device: torch.device) -> _Kernel:
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    return _Kernel(f"matmul n={n}", lambda: torch.mm(a, b, out=out), 2.0 * n**3, 3.0 * n * n * a.element_size(),
                   _dtype_name(dtype))


def _copy_kernel(nbytes: int, device: torch.device) -> _Kernel:
    n = nbytes // 4
    src = torch.ones(n, device=device, dtype=torch.float32)
    dst = torch.empty_like(src)
    return _Kernel("copy", lambda: dst.copy_(src), 1.0, 2.0 * n * 4, "float32")


def _add_kernel(nbytes: int, device: torch.device) -> _Kernel:
    n = nbytes // 4
    a = torch.ones(n, device=device)
    b = torch.ones(n, device=device)
    c = torch.empty_like(a)
    return _Kernel("add", lambda: torch.add(a, b, out=c), float(n), 12.0 * n, "float32")


def measure_matmul(n: int, *, dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu",
                   min_time: float = 0.2, rounds: int = 5) -> KernelPoint:
    """Time ``C = A @ B`` for (n, n) matrices: 2n³ FLOPs, 3n² elements moved."""
    device = torch.device(device)
    return _time_kernels([_matmul_kernel(n, dtype, device)], device, min_time, rounds)[0]


def measure_bandwidth(*, nbytes: int = 256 * 2**20, device: torch.device | str = "cpu",
                      min_time: float = 0.2, rounds: int = 5) -> KernelPoint:
    """Time a large copy ``dst.copy_(src)``: ``2 * nbytes`` moved (read + write), no FLOPs (counted as 1)."""
    device = torch.device(device)
    return _time_kernels([_copy_kernel(nbytes, device)], device, min_time, rounds)[0]


def measure_elementwise(*, nbytes: int = 256 * 2**20, device: torch.device | str = "cpu",
                        min_time: float = 0.2, rounds: int = 5) -> KernelPoint:
    """Time ``c = a + b`` over ``nbytes`` per array: 1 FLOP per element, 12 bytes per element (fp32)."""
    device = torch.device(device)
    return _time_kernels([_add_kernel(nbytes, device)], device, min_time, rounds)[0]


def machine_report(device: torch.device | str = "cpu", *, sizes: Sequence[int] | None = None,
                   dtype: torch.dtype | None = None, min_time: float = 0.15,
                   nbytes: int | None = None, rounds: int = 5) -> HardwareReport:
    """Measure matmul FLOP/s over ``sizes`` and copy/add bandwidth on ``device``.

    Every kernel is timed in ``rounds`` interleaved rounds (``min_time`` seconds per kernel in all);
    see the module docstring. Defaults: fp32 on CPU with sizes 64..1024 and 128 MiB arrays; bf16
    on CUDA with sizes 256..8192 and 1 GiB arrays.
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    dtype = dtype or (torch.bfloat16 if cuda else torch.float32)
    sizes = list(sizes or ((256, 512, 1024, 2048, 4096, 8192) if cuda else (64, 128, 256, 512, 1024)))
    nbytes = nbytes or (2**30 if cuda else 128 * 2**20)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else math.nan
    kernels = [*(_matmul_kernel(n, dtype, device) for n in sizes), _copy_kernel(nbytes, device),
               _add_kernel(nbytes, device)]
    points = _time_kernels(kernels, device, min_time, rounds)
    del kernels  # free the arrays
    mm, copy, add = points[:-2], points[-2], points[-1]
    if cuda:
        name = torch.cuda.get_device_name(device)
        peak = gpu_peak(name)
    else:
        import platform

        name = platform.processor() or platform.machine()
        peak = cpu_nominal_peak(torch.get_num_threads())
    return HardwareReport(str(device), name, _dtype_name(dtype), mm, copy, add, peak,
                          extra={"threads": torch.get_num_threads(), "rounds": rounds, "load_average_1min": load})


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
        busy = f"; CONTENDED: CPU share {rep.cpu_share:.0%}" if rep.contended else ""
        ax.plot(xs, [roofline(x, peak, bw) for x in xs], color=color, lw=2,
                label=f"{rep.device} measured roofline ({peak / 1e9:.0f} GFLOP/s, {bw / 1e9:.0f} GB/s{busy})")
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
