"""Vendor peak numbers (dense, no sparsity) for common GPUs, and a nominal CPU estimate.

GPU figures are the vendors' datasheet numbers: tensor-core bf16/fp16 dense TFLOP/s, fp32
(non-tensor-core) TFLOP/s and memory bandwidth in GB/s. The CPU figure is an *estimate*
(cores x clock x SIMD FMA lanes x 2 FMA units), labelled as such wherever it is shown.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Peak:
    """Peak throughput of one device. flops: dtype name -> FLOP/s; bandwidth in bytes/s."""

    name: str
    flops: dict[str, float]
    bandwidth: float
    source: str


_T = 1e12
_G = 1e9

#: substring of torch.cuda.get_device_name() -> Peak; longer keys are matched first.
GPU_PEAKS: dict[str, Peak] = {
    "H200": Peak("NVIDIA H200", {"bfloat16": 989 * _T, "float16": 989 * _T, "float32": 67 * _T}, 4800 * _G,
                 "NVIDIA H200 datasheet (SXM)"),
    "H100 PCIe": Peak("NVIDIA H100 PCIe", {"bfloat16": 756 * _T, "float16": 756 * _T, "float32": 51 * _T},
                      2000 * _G, "NVIDIA H100 datasheet (PCIe)"),
    "H100": Peak("NVIDIA H100 SXM", {"bfloat16": 989 * _T, "float16": 989 * _T, "float32": 67 * _T}, 3350 * _G,
                 "NVIDIA H100 datasheet (SXM5)"),
    "A100-SXM4-80GB": Peak("NVIDIA A100 80GB", {"bfloat16": 312 * _T, "float16": 312 * _T, "float32": 19.5 * _T},
                           2039 * _G, "NVIDIA A100 datasheet"),
    "A100": Peak("NVIDIA A100 40GB", {"bfloat16": 312 * _T, "float16": 312 * _T, "float32": 19.5 * _T},
                 1555 * _G, "NVIDIA A100 datasheet"),
    "L4": Peak("NVIDIA L4", {"bfloat16": 121 * _T, "float16": 121 * _T, "float32": 30 * _T}, 300 * _G,
               "NVIDIA L4 datasheet"),
    "A10": Peak("NVIDIA A10", {"bfloat16": 125 * _T, "float16": 125 * _T, "float32": 31.2 * _T}, 600 * _G,
                "NVIDIA A10 datasheet"),
    "RTX 4090": Peak("NVIDIA RTX 4090", {"bfloat16": 165 * _T, "float16": 165 * _T, "float32": 82.6 * _T},
                     1008 * _G, "NVIDIA Ada whitepaper"),
    "V100": Peak("NVIDIA V100", {"float16": 125 * _T, "float32": 15.7 * _T}, 900 * _G, "NVIDIA V100 datasheet"),
    "T4": Peak("NVIDIA T4", {"float16": 65 * _T, "float32": 8.1 * _T}, 320 * _G, "NVIDIA T4 datasheet"),
}


def gpu_peak(device_name: str) -> Peak | None:
    """The datasheet peak for a CUDA device name, or None if unknown."""
    for key in sorted(GPU_PEAKS, key=len, reverse=True):
        if key in device_name:
            return GPU_PEAKS[key]
    return None


def cpu_nominal_peak(threads: int | None = None) -> Peak | None:
    """Estimated fp32 peak of this CPU: threads x max clock x SIMD lanes x 2 (FMA) x 2 (FMA units).

    Reads /proc/cpuinfo (Linux); returns None where it cannot. Bandwidth is not estimated (0).
    """
    info = pathlib.Path("/proc/cpuinfo")
    if not info.exists():
        return None
    text = info.read_text(errors="replace")
    mhz = [float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")]
    flags = next((line.split(":")[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    if not mhz:
        return None
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = 2 if ("fma" in flags or "avx512f" in flags) else 1
    n = threads or os.cpu_count() or 1
    flops = n * max(mhz) * 1e6 * lanes * fma * 2
    isa = "avx512" if lanes == 16 else "avx2" if lanes == 8 else "sse"
    return Peak(f"CPU ({n} thread{'s' if n != 1 else ''}, {isa}, {max(mhz):.0f} MHz)", {"float32": flops}, 0.0,
                "nominal estimate: threads x clock x SIMD lanes x FMA x 2 units")
