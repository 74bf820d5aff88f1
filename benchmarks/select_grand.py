"""GraNd on MNIST-5k: danlu's torch.func (vmap of grad) per-example gradient norms vs the naive loop.

Issue 20's target: GraNd for 5,000 MNIST examples on 2 CPU cores >= 10x faster than one backward
pass per example. All sides compute the same numbers (checked here: max relative difference to the
loop) on the same model and data: ``danlu.select.grad_norms`` with ``method="vmap"`` (torch.func
vmap of grad over the whole model, chunks of ``--chunk``) and ``method="modules"`` (one batched
backward, closed forms for Linear/Conv2d, vmap of vjp for the rest), against
``danlu.select.grad_norms_loop`` (``torch.autograd.grad`` per example). The user's path,
``danlu.select.grand(...)`` at initialization (one seed: model built, data checked, method
"auto", scored), is timed too. Models: the MLP (784-128-10) and the default ``danlu train`` CNN (widths 16-32-64, BN).
Time = median of ``--repeats`` runs (the loop: one run; it is the slow side), float32.

    OMP_NUM_THREADS=2 python benchmarks/select_grand.py                 # 5,000 examples
    python benchmarks/select_grand.py --n 1000 --models mlp --repeats 1
"""

from __future__ import annotations

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import torch  # noqa: E402
from torch.utils.data import TensorDataset  # noqa: E402

from danlu.data import load_dataset  # noqa: E402
from danlu.models import create_model  # noqa: E402
from danlu.select import grad_norms, grad_norms_loop, grand  # noqa: E402

MODELS: dict[str, Callable[[], torch.nn.Module]] = {
    "mlp": lambda: create_model("mlp", in_features=784, num_classes=10, depth=1, width=128),
    "cnn": lambda: create_model("cnn", in_channels=1, num_classes=10, widths=[16, 32, 64], norm="bn"),
}


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    out, ts = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--chunk", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    args = ap.parse_args()
    splits = load_dataset("mnist5k", seed=0)
    x = torch.cat([splits.train.tensors[0], splits.val.tensors[0], splits.test.tensors[0]])[:args.n]
    y = torch.cat([splits.train.tensors[1], splits.val.tensors[1], splits.test.tensors[1]])[:args.n]
    print(f"# select GraNd: N={len(y)} MNIST-5k images, chunk {args.chunk}, float32, torch {torch.__version__}, "
          f"threads={torch.get_num_threads()}")
    print("| model | params | naive loop (s) | vmap (s) | modules (s) | grand() auto (s) | loop / vmap | "
          "loop / modules | loop / grand() | max rel. diff (vmap, modules) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.models:
        torch.manual_seed(0)
        model = MODELS[name]()
        xin = x if name == "cnn" else x.flatten(1)
        params = sum(p.numel() for p in model.parameters())
        grad_norms(model, xin[:8], y[:8], method="vmap")  # warm-up (first-call costs) for every side
        grad_norms(model, xin[:8], y[:8], method="modules")
        grad_norms_loop(model, xin[:8], y[:8])
        t_loop, ref = timed(lambda m=model, xi=xin: grad_norms_loop(m, xi, y).detach(), 1)
        t_vmap, g_vmap = timed(lambda m=model, xi=xin: grad_norms(m, xi, y, chunk=args.chunk, method="vmap"),
                               args.repeats)
        t_mod, g_mod = timed(lambda m=model, xi=xin: grad_norms(m, xi, y, chunk=args.chunk, method="modules"),
                             args.repeats)
        data = TensorDataset(xin, y)
        t_user, _ = timed(lambda f=MODELS[name], d=data: grand(f, d, epochs=0, seeds=[0], batch_size=args.chunk,
                                                                  progress=False), args.repeats)

        def rel(a: torch.Tensor, ref: torch.Tensor = ref) -> float:
            return float(((a - ref).abs() / ref.abs().clamp(min=1e-12)).max())

        print(f"| {name} | {params:,} | {t_loop:.2f} | {t_vmap:.2f} | {t_mod:.2f} | {t_user:.2f} | "
              f"{t_loop / t_vmap:.1f}x | {t_loop / t_mod:.1f}x | {t_loop / t_user:.1f}x | "
              f"{rel(g_vmap):.1e}, {rel(g_mod):.1e} |")

if __name__ == "__main__":
    main()
