"""CPU latency of danlu's integer-only runtime vs the float network, the fake-quant simulation and
torch's quantized engine (``torch.ao.quantization.quantize_fx``, int8 kernels), same model and batch.

Correctness is the target of ``danlu.quant``; speed is recorded honestly: the runtime is a readable
reference (im2col + an integer GEMM in torch ops), not a tuned kernel. Two GEMM backends are timed:
``int64`` (torch's integer matmul, no BLAS) and ``float64`` (the same integers through BLAS, exact
below 2^53; see danlu.quant.int_ops). Each configuration is timed ``--repeats`` times, interleaved,
and the median is reported with its ratio to the float model measured in the same run.

    OMP_NUM_THREADS=1 python benchmarks/quant.py
    python benchmarks/quant.py --batch 256 --repeats 7
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable

import torch

from danlu.models import create_model
from danlu.quant import QConfig, calibrate, convert, prepare_ptq
from danlu.quant.int_ops import use_gemm


def torch_engine(model: torch.nn.Module, calib: list[torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor] | str:
    """torch's own FX post-training quantization of the same float model, or the reason it is unavailable."""
    try:
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

        engine = next(e for e in ("x86", "fbgemm", "qnnpack") if e in torch.backends.quantized.supported_engines)
        torch.backends.quantized.engine = engine
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            prepared = prepare_fx(model, get_default_qconfig_mapping(engine), example_inputs=(calib[0],))
            with torch.no_grad():
                for x in calib:
                    prepared(x)
            q = convert_fx(prepared)
        return lambda x: q(x)
    except Exception as exc:  # noqa: BLE001 - any failure means "not available on this build"
        return f"unavailable: {type(exc).__name__}: {str(exc)[:80]}"


def bench(name: str, model: torch.nn.Module, shape: tuple[int, ...], batch: int, repeats: int) -> None:
    """Time every configuration on one model and print its table rows."""
    calib = [torch.rand(64, *shape) for _ in range(4)]
    sim = calibrate(prepare_ptq(model, QConfig()), calib)
    im = convert(sim)
    x = torch.rand(batch, *shape)

    def run_int(gemm: str) -> torch.Tensor:
        with use_gemm(gemm):
            return im(x)

    configs: dict[str, Callable[[], object] | str] = {
        "float32 (eager)": lambda: model(x),
        "fake-quant simulation": lambda: sim(x),
        "danlu integer runtime, int64 GEMM": lambda: run_int("int64"),
        "danlu integer runtime, float64-exact GEMM": lambda: run_int("float64"),
    }
    ref = torch_engine(model, calib)
    configs["torch quantized engine (quantize_fx, int8)"] = (lambda: ref(x)) if callable(ref) else ref
    times: dict[str, list[float]] = {k: [] for k, v in configs.items() if callable(v)}
    with torch.no_grad():
        for fn in configs.values():
            if callable(fn):
                fn()  # warm-up
        for _ in range(repeats):
            for k, fn in configs.items():
                if callable(fn):
                    t0 = time.perf_counter()
                    fn()
                    times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["float32 (eager)"])
    for k, fn in configs.items():
        if not callable(fn):
            print(f"| {name} | {k} | {fn} | - |")
            continue
        t = statistics.median(times[k])
        print(f"| {name} | {k} | {1000 * t:.2f} | {t / base:.1f}x |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    nets = {"cnn [16, 32] 28x28": (create_model("cnn", in_channels=1, num_classes=10, widths=[16, 32]), (1, 28, 28)),
            "mlp 784-256-256-10": (create_model("mlp", in_features=784, num_classes=10, depth=2, width=256,
                                                norm="bn"), (1, 28, 28))}
    print(f"# quant: batch {args.batch}, median of {args.repeats}, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}")
    print("| model | configuration | ms / batch | vs float |")
    print("|---|---|---|---|")
    for name, (model, shape) in nets.items():
        bench(name, model.eval(), shape, args.batch, args.repeats)

if __name__ == "__main__":
    main()
