"""CPU benchmark for danlu's attention kernels (issue targets), danlu vs its peer on the same inputs.

1. Chunked linear attention vs the explicit quadratic form (same φ = elu+1, causal, normalized)
   at N = 8192, D = 64: target >= 10x faster and >= 20x less peak memory.
2. flash_attention's reference backend vs the naive softmax form and torch SDPA: peak memory and
   the largest tensor allocated (target: never an N x N tensor), time ratio.

Peak memory = bytes of tensors allocated during the call (danlu.kernels.memory.TensorMemoryTracker,
inputs excluded). Time = median of --repeats runs, forward only, float32, torch threads as set.

    OMP_NUM_THREADS=1 python benchmarks/attention_cpu.py            # N=8192
    python benchmarks/attention_cpu.py --n 4096 --repeats 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from danlu.kernels import flash_attention, linear_attention
from danlu.kernels.memory import TensorMemoryTracker


def measure(fn, repeats: int) -> tuple[float, int, tuple[int, ...]]:
    with torch.no_grad():
        with TensorMemoryTracker() as mem:
            fn()
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
    return statistics.median(ts), mem.peak_bytes, mem.largest_shape


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8192)
    ap.add_argument("--d", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    n, d = args.n, args.d
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(1, 1, n, d, generator=g) for _ in range(3))
    print(f"# attention_cpu: N={n}, D={d}, B=H=1, float32, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}")

    rows = []
    lin = {name: measure(lambda b=name: linear_attention(q, k, v, causal=True, backend=b, chunk_size=64),
                         args.repeats) for name in ("quadratic", "chunked")}
    out_q = linear_attention(q, k, v, backend="quadratic")
    out_c = linear_attention(q, k, v, backend="chunked")
    err = ((out_q - out_c).abs().max() / out_q.abs().max()).item()
    for name, (t, m, shape) in lin.items():
        rows.append((f"linear {name}", t, m, shape))
    flash = {
        "flash reference (danlu)": lambda: flash_attention(q, k, v, causal=True, backend="reference",
                                                           block_q=256, block_k=256),
        "naive softmax (N x N)": lambda: flash_attention(q, k, v, causal=True, backend="naive"),
        "torch SDPA": lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True),
    }
    fl = {name: measure(fn, args.repeats) for name, fn in flash.items()}
    for name, (t, m, shape) in fl.items():
        rows.append((name, t, m, shape))

    print("\n| method | seconds | peak MiB | largest tensor |\n|---|---:|---:|---|")
    for name, t, m, shape in rows:
        print(f"| {name} | {t:.4f} | {m / 2**20:.1f} | {shape} |")
    tq, mq, _ = lin["quadratic"]
    tc, mc, _ = lin["chunked"]
    tf, mf, sf = fl["flash reference (danlu)"]
    tn, mn, _ = fl["naive softmax (N x N)"]
    ts, ms, _ = fl["torch SDPA"]
    nn_numel = n * n
    flash_numel = 1
    for s in sf:
        flash_numel *= s
    print("\n| ratio | value | target |\n|---|---:|---|")
    print(f"| linear: quadratic time / chunked time | {tq / tc:.1f}x | >= 10x |")
    print(f"| linear: quadratic peak / chunked peak | {mq / mc:.1f}x | >= 20x |")
    print(f"| linear: max rel. difference chunked vs quadratic | {err:.1e} | float32 rounding |")
    print(f"| flash: largest tensor / (N x N) | {flash_numel / nn_numel:.4f} | < 1 (never N x N) |")
    print(f"| flash: naive peak / flash peak | {mn / mf:.1f}x | > 1 |")
    print(f"| flash: SDPA peak / flash peak | {ms / mf:.1f}x | info |")
    print(f"| flash: flash time / SDPA time | {tf / ts:.1f}x | info (pure-torch tiles vs fused C++) |")
    print(f"| flash: flash time / naive time | {tf / tn:.1f}x | info |")
    ok = tq / tc >= 10 and mq / mc >= 20 and flash_numel < nn_numel
    print(f"\ntargets met: {ok}")


if __name__ == "__main__":
    main()
