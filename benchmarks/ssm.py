"""Selective scan: danlu's backends vs a sequential torch loop and vs softmax attention; the whole
CPU + GPU table from one command.

Rows (issue 14):

* CPU, L = 4096, B = 2, D = 256, N = 16, fp32, per-time B/C, softplus Δ, D skip, z gate:
  ``sequential`` (danlu's readable one-step-per-iteration reference), ``ref-loop`` (the algorithm
  of mamba_ssm's ``selective_scan_ref``, restated here: exp(Δ A) and Δ B u materialised for all
  steps with einsum, then a loop of einsum steps) and ``chunked``; time and ratio = loop / chunked,
  plus the max |difference| to sequential (fp32) and, at L = 512, in float64.
* CPU crossover: chunked scan vs causal SDPA (torch's math/flash CPU kernel) at matched width:
  one Mamba-style layer's scan on D = 2·d_model channels, N = 16, vs attention with d_model =
  256 split into 4 heads of 64, B = 1, forward only, L in 256..8192.
* GPU (when CUDA is available): the same two tables on CUDA with the ``triton`` backend added, and
  SDPA restricted to its FLASH backend, bf16 for attention. Without a GPU these rows print
  "unmeasured (no CUDA device)".

Usage::

    OMP_NUM_THREADS=1 python benchmarks/ssm.py            # prints the markdown table
    python benchmarks/ssm.py --quick                       # shorter sweep (CI smoke)
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from danlu.kernels.selective_scan import selective_scan


def ref_loop(u, delta, A, B, C, D, z, delta_bias):
    """mamba_ssm selective_scan_ref's algorithm (per-time B/C, softplus): materialise, then loop."""
    delta = F.softplus(delta + delta_bias[:, None])
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    dBu = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)
    x = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    ys = []
    for i in range(u.shape[2]):
        x = dA[:, :, i] * x + dBu[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, C[:, :, i]))
    return (torch.stack(ys, 2) + u * D[:, None]) * F.silu(z)


def inputs(b: int, d: int, L: int, n: int, device: str, dtype=torch.float32, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    a = {"u": torch.randn(b, d, L, generator=g), "delta": torch.randn(b, d, L, generator=g) - 2,
         "A": -torch.rand(d, n, generator=g) * 8 - 0.5, "B": torch.randn(b, n, L, generator=g),
         "C": torch.randn(b, n, L, generator=g), "D": torch.randn(d, generator=g), "z": torch.randn(b, d, L, generator=g),
         "delta_bias": torch.randn(d, generator=g) * 0.1}
    return {k: v.to(device, dtype) for k, v in a.items()}


def bench(fn: Callable[[], object], device: str, reps: int) -> float:
    """Median seconds of ``reps`` calls after one warm-up."""
    fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def scan_table(device: str, L: int, reps: int) -> list[str]:
    a = inputs(2, 256, L, 16, device)
    backends = ["sequential", "chunked"] + (["triton"] if device == "cuda" else [])
    outs, times = {}, {}
    for name in backends:
        times[name] = bench(lambda name=name: selective_scan(**a, delta_softplus=True, backend=name), device, reps)
        outs[name] = selective_scan(**a, delta_softplus=True, backend=name)
    times["ref-loop"] = bench(lambda: ref_loop(**a), device, reps)
    outs["ref-loop"] = ref_loop(**a)
    fast = "triton" if device == "cuda" else "chunked"
    rows = [f"| {device} | {name} | {times[name] * 1e3:.1f} | {times[name] / times[fast]:.1f}x | "
            f"{(outs[name] - outs['sequential']).abs().max().item():.1e} |"
            for name in ["sequential", "ref-loop", *backends[1:]]]
    a64 = inputs(2, 256, 512, 16, device, torch.float64)
    diff64 = (selective_scan(**a64, delta_softplus=True, backend="chunked")
              - selective_scan(**a64, delta_softplus=True, backend="sequential")).abs().max().item()
    rows.append(f"| {device} | chunked vs sequential, float64, L = 512 | | | {diff64:.1e} |")
    return rows


@torch.no_grad()
def crossover_table(device: str, lengths: list[int], reps: int) -> tuple[list[str], int | None]:
    d_model, heads, n = 256, 4, 16
    rows, crossover = [], None
    scan_backend = "triton" if device == "cuda" else "chunked"
    att_dtype = torch.bfloat16 if device == "cuda" else torch.float32
    for L in lengths:
        a = inputs(1, 2 * d_model, L, n, device)
        q = torch.randn(1, heads, L, d_model // heads, device=device, dtype=att_dtype)

        def attention(q=q):
            if device == "cuda":
                from torch.nn.attention import SDPBackend, sdpa_kernel

                with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
                    return F.scaled_dot_product_attention(q, q, q, is_causal=True)
            return F.scaled_dot_product_attention(q, q, q, is_causal=True)

        ts = bench(lambda a=a: selective_scan(**a, delta_softplus=True, backend=scan_backend), device, reps)
        ta = bench(attention, device, reps)
        if crossover is None and ts < ta:
            crossover = L
        rows.append(f"| {device} | {L} | {ts * 1e3:.2f} | {ta * 1e3:.2f} | {ta / ts:.2f} |")
    return rows, crossover


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="L = 1024 for the scan table, 3 lengths for the sweep")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    L = 1024 if args.quick else 4096
    lengths = [256, 1024, 4096] if args.quick else [256, 512, 1024, 2048, 4096, 8192]
    print(f"# selective scan benchmark ({dt.date.today()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU thread(s), {platform.processor() or platform.machine()})\n")
    print(f"## Scan backends, L = {L}, B = 2, D = 256, N = 16, fp32 (ratio = time / fastest danlu backend)\n")
    print("| device | backend | ms | ratio | max abs diff vs sequential |\n|---|---|---|---|---|")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        print("\n".join(scan_table(device, L, args.reps)))
    if "cuda" not in devices:
        print("| cuda | triton, sequential, ref-loop | unmeasured (no CUDA device) | | |")
    print("\n## Scan (D = 512, N = 16) vs causal softmax attention (d_model = 256, 4 heads), B = 1, forward\n")
    print("| device | L | scan ms | attention ms | attention / scan |\n|---|---|---|---|---|")
    for device in devices:
        rows, cross = crossover_table(device, lengths, args.reps)
        print("\n".join(rows))
        print(f"| {device} | crossover: scan faster from L = {cross if cross else 'never in the sweep'} | | | |")
    if "cuda" not in devices:
        print("| cuda | triton vs SDPA-FLASH | unmeasured (no CUDA device) | | |")


if __name__ == "__main__":
    main()
