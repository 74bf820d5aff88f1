"""danlu's Triton attention kernels vs the best peers, one process, same inputs: the whole GPU table.

Flash: danlu ``flash_attention_triton`` vs torch SDPA with its FLASH backend (FlashAttention-2) and its
CUDNN backend (``torch.nn.attention.sdpa_kernel``). Linear: danlu ``linear_attention_triton`` (causal,
chunk 64, no normalization) vs flash-linear-attention's ``chunk_linear_attn`` (if installed; same
tensors viewed in its (B, T, H, D) layout, scale 1, normalize=False) and vs SDPA-FLASH causal.

Shapes (issue 6): bf16, total tokens B·N = 16k, hidden 2048 (H = 2048 / D), N in 1k..16k (linear also
32k and 64k with B = 1), D in {64, 128}, causal and non-causal (flash), forward and forward+backward.
Reported: median time (``triton.testing.do_bench``), TFLOP/s for softmax attention
(4·B·H·N²·D, halved for causal, x3.5 for forward+backward), ratio = peer time / danlu time (> 1: danlu
faster), and peak extra memory of one call (MiB above the inputs).

Usage::

    python benchmarks/attention_gpu.py                      # GPU: writes benchmarks/results/attention_gpu.md
    python benchmarks/attention_gpu.py --only flash --n 1024 4096
    python benchmarks/attention_gpu.py --smoke              # CPU (TRITON_INTERPRET=1), tiny shapes, prints only
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "attention_gpu.md"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--smoke", action="store_true", help="tiny shapes; on CPU runs the kernels in the Triton interpreter")
    p.add_argument("--only", choices=["flash", "linear"], help="run one table")
    p.add_argument("--n", type=int, nargs="+", help="sequence lengths (default: the issue's list)")
    p.add_argument("--d", type=int, nargs="+", help="head dims (default 64 128)")
    p.add_argument("--passes", nargs="+", choices=["fwd", "fwd+bwd"], default=["fwd", "fwd+bwd"])
    p.add_argument("--out", type=Path, help=f"markdown output (default on GPU: {DEFAULT_OUT.relative_to(ROOT)})")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------------------- timing
def timer(cuda: bool) -> Callable[[Callable[[], object], list], float]:
    """Median milliseconds of ``fn``: triton's do_bench on CUDA, a perf_counter loop on CPU."""
    if cuda:
        from triton.testing import do_bench

        def bench(fn, grads):
            return float(do_bench(fn, warmup=25, rep=100, grad_to_none=grads, return_mode="median"))
        return bench

    def bench_cpu(fn, grads):
        fn()
        times = []
        for _ in range(1):  # the interpreter is slow; one timed call (smoke only checks that it runs)
            for g in grads:
                g.grad = None
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
        return times[0]
    return bench_cpu


def peak_mib(fn: Callable[[], object], cuda: bool) -> float | None:
    """Peak memory (MiB) allocated by one call above what was live before it (CUDA only)."""
    if not cuda:
        return None
    import torch
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    return (torch.cuda.max_memory_allocated() - base) / 2**20


def measure(make_call, inputs, do, pass_, bench, cuda):
    """(ms, peak MiB) of forward or forward+backward of ``make_call(*inputs)``, or an error string."""
    import torch

    def fwd():
        with torch.no_grad():
            return make_call(*inputs)

    def fwd_bwd():
        out = make_call(*inputs)
        out = out[0] if isinstance(out, tuple) else out
        out.backward(do)

    fn = fwd if pass_ == "fwd" else fwd_bwd
    try:
        fn()  # compile / autotune outside the timed region
        ms = bench(fn, list(inputs) if pass_ != "fwd" else [])
        mem = peak_mib(fn, cuda)
    except Exception as e:  # a peer that cannot run this shape is reported, not fatal
        if cuda:
            torch.cuda.empty_cache()
        return f"{type(e).__name__}", None
    finally:
        for t in inputs:
            t.grad = None
    return ms, mem


# ------------------------------------------------------------------------------------------ peers
def sdpa_peers(cuda: bool) -> dict[str, Callable]:
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    def with_backend(backend):
        def call(q, k, v, causal):
            with sdpa_kernel(backend):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        return call

    if cuda:
        return {"SDPA-FLASH": with_backend(SDPBackend.FLASH_ATTENTION),
                "SDPA-CUDNN": with_backend(SDPBackend.CUDNN_ATTENTION)}
    return {"SDPA-MATH(cpu)": with_backend(SDPBackend.MATH)}


def fla_linear() -> Callable | None:
    """fla's chunk_linear_attn taking (B, T, H, D) tensors, or None when fla is not installed."""
    try:
        from fla.ops.linear_attn import chunk_linear_attn
    except Exception:
        return None
    params = inspect.signature(chunk_linear_attn).parameters

    def call(q, k, v):
        kw = {"scale": 1.0, "normalize": False}
        if "head_first" in params:
            kw["head_first"] = False
        return chunk_linear_attn(q, k, v, **kw)
    return call


# ------------------------------------------------------------------------------------------ tables
def flops(b, h, n, d, causal, pass_):
    f = 4 * b * h * n * n * d / (2 if causal else 1)
    return f * (3.5 if pass_ == "fwd+bwd" else 1.0)


def fmt(x, spec="{:.1f}"):
    if x is None:
        return "n/a"
    return x if isinstance(x, str) else spec.format(x)


def tflops_fmt(x):
    return fmt(x, "{:.1f}" if isinstance(x, float) and x >= 1 else "{:.2g}")


def ratio(peer, mine):
    return f"{peer / mine:.2f}x" if isinstance(peer, float) and isinstance(mine, float) else "n/a"


def flash_table(args, cuda, device, bench, shapes):
    import torch

    from danlu.kernels.flash_attention.triton import flash_attention_triton

    peers = sdpa_peers(cuda)
    impls = {"danlu": lambda q, k, v, c: flash_attention_triton(q, k, v, c, None), **peers}
    head = ["N", "D", "B×H", "causal", "pass"] + [f"{n} TFLOP/s" for n in impls] + \
        [f"vs {p}" for p in peers] + [f"{n} MiB" for n in impls]
    rows = []
    for n, d, b, h in shapes:
        g = torch.Generator(device="cpu").manual_seed(0)
        q, k, v = (torch.randn(b, h, n, d, generator=g).to(device, torch.bfloat16).requires_grad_()
                   for _ in range(3))
        do = torch.randn(b, h, n, d, generator=g).to(device, torch.bfloat16)
        for causal in (False, True):
            for pass_ in args.passes:
                res = {name: measure(lambda a, b_, c, f=f, cz=causal: f(a, b_, c, cz), (q, k, v), do, pass_, bench, cuda)
                       for name, f in impls.items()}
                fl = flops(b, h, n, d, causal, pass_)
                tf = {name: (fl / (r[0] * 1e-3) / 1e12 if isinstance(r[0], float) else r[0]) for name, r in res.items()}
                rows.append([n, d, f"{b}×{h}", causal, pass_] + [tflops_fmt(tf[x]) for x in impls] +
                            [ratio(res[p][0], res["danlu"][0]) for p in peers] +
                            [fmt(res[x][1], "{:.0f}") for x in impls])
                print(" | ".join(map(str, rows[-1])), flush=True)
        del q, k, v, do
    return head, rows


def linear_table(args, cuda, device, bench, shapes):
    import torch

    from danlu.kernels.linear_attention.triton import linear_attention_triton

    fla = fla_linear() if cuda else None
    sdpa = next(iter(sdpa_peers(cuda).items()))
    impls: dict[str, Callable] = {
        "danlu": lambda q, k, v: linear_attention_triton(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                         normalize=False, chunk_size=64)[0].transpose(1, 2)}
    if fla is not None:
        impls["fla chunk_linear_attn"] = fla
    impls[f"{sdpa[0]} causal"] = lambda q, k, v: sdpa[1](q.transpose(1, 2), k.transpose(1, 2),
                                                         v.transpose(1, 2), True).transpose(1, 2)
    peers = [x for x in impls if x != "danlu"]
    head = ["N", "D", "B×H", "pass"] + [f"{n} ms" for n in impls] + [f"vs {p}" for p in peers] + \
        [f"{n} MiB" for n in impls]
    rows = []
    for n, d, b, h in shapes:
        g = torch.Generator(device="cpu").manual_seed(0)
        # (B, T, H, D) storage, fla's layout; danlu and SDPA read the same memory as (B, H, T, D) views
        q, k = ((torch.rand(b, n, h, d, generator=g) * 0.1).to(device, torch.bfloat16).requires_grad_()
                for _ in range(2))
        v = torch.randn(b, n, h, d, generator=g).to(device, torch.bfloat16).requires_grad_()
        do = torch.randn(b, n, h, d, generator=g).to(device, torch.bfloat16)
        for pass_ in args.passes:
            res = {}
            for name, f in impls.items():
                res[name] = measure(f, (q, k, v), do, pass_, bench, cuda)  # every impl returns (B, T, H, D)
            rows.append([n, d, f"{b}×{h}", pass_] + [fmt(res[x][0], "{:.3f}") for x in impls] +
                        [ratio(res[p][0], res["danlu"][0]) for p in peers] + [fmt(res[x][1], "{:.0f}") for x in impls])
            print(" | ".join(map(str, rows[-1])), flush=True)
        del q, k, v, do
    if fla is None and cuda:
        print("note: flash-linear-attention (fla) is not installed: its column is absent", flush=True)
    return head, rows


def shapes_for(ns, ds, tokens, hidden):
    """(N, D, B, H) with B·N = tokens (B >= 1) and H = hidden / D."""
    return [(n, d, max(1, tokens // n), hidden // d) for d in ds for n in ns]


def markdown(head, rows):
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.smoke and os.environ.get("TRITON_INTERPRET") is None:
        import torch
        if not torch.cuda.is_available():
            os.environ["TRITON_INTERPRET"] = "1"  # before danlu's Triton modules are imported
    import torch
    import triton
    cuda = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1"
    if not cuda and not args.smoke:
        print("attention_gpu.py: error: CUDA is not available; this benchmark needs a GPU "
              "(use --smoke for a tiny CPU run through the Triton interpreter)", file=sys.stderr)
        return 2
    device = "cuda" if cuda else "cpu"
    bench = timer(cuda)
    if args.smoke:
        tokens, hidden = 128, 64
        flash_ns, lin_ns, ds = args.n or [64, 96], args.n or [64, 128], args.d or [32, 64]
    else:
        tokens, hidden = 16384, 2048
        flash_ns = args.n or [1024, 2048, 4096, 8192, 16384]
        lin_ns = args.n or [1024, 2048, 4096, 8192, 16384, 32768, 65536]
        ds = args.d or [64, 128]
    gpu = torch.cuda.get_device_name() if cuda else f"CPU ({platform.processor() or platform.machine()}), Triton interpreter"
    try:
        import fla
        fla_v = getattr(fla, "__version__", "installed")
    except Exception:
        fla_v = "not installed"
    cmd = "python " + " ".join([Path(sys.argv[0]).as_posix() if argv is None else "benchmarks/attention_gpu.py",
                                *(sys.argv[1:] if argv is None else argv)])
    header = [f"# Attention kernels on {gpu}", "",
              f"- date: {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}",
              f"- device: {gpu}", f"- torch {torch.__version__}, Triton {triton.__version__}, fla {fla_v}",
              f"- command: `{cmd}`", "- dtype bf16; ratio = peer time / danlu time (> 1: danlu faster); "
              "MiB = peak memory of one call above the live inputs", ""]
    sections = []
    if args.only in (None, "flash"):
        print("== flash attention ==", flush=True)
        h, r = flash_table(args, cuda, device, bench, shapes_for(flash_ns, ds, tokens, hidden))
        sections += ["## FlashAttention (TFLOP/s = 4·B·H·N²·D, /2 causal, x3.5 fwd+bwd)", "", markdown(h, r), ""]
    if args.only in (None, "linear"):
        print("== linear attention (causal, chunk 64) ==", flush=True)
        h, r = linear_table(args, cuda, device, bench, shapes_for(lin_ns, ds, tokens, hidden))
        sections += ["## Chunked causal linear attention (median ms)", "", markdown(h, r), ""]
    text = "\n".join(header + sections)
    out = args.out if args.out is not None else (None if args.smoke else DEFAULT_OUT)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    else:
        print("\n" + text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
