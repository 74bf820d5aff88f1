"""Triton selective scan vs danlu's float64 sequential scan (itself tested against the
selective_scan_ref restatement in test_selective_scan.py): outputs, last state, gradients of every input.

Like test_linear_triton.py: kernel tests run in a subprocess with ``TRITON_INTERPRET=1`` (CPU) via
``test_kernels_under_triton_interpreter``, directly on CUDA when present, and at real shapes under the
``gpu`` marker; bad-input tests run everywhere; an sm_90 ahead-of-time compile test is marked slow.

Metric ``rel = ||out - ref|| / ||ref||``; reference = the same (rounded) inputs in float64. Tolerances:
fp32 1e-5 (outputs/state) and 1e-4 (gradients, fp32 atomics in changing order); fp16 2e-3 / 5e-3;
bf16 1.5e-2 / 3e-2 (inputs and outputs rounded to 8 mantissa bits; the state is fp32 throughout).
"""

from __future__ import annotations

import os

import pytest
import torch

pytest.importorskip("triton")

from danlu.errors import DanluError  # noqa: E402
from danlu.kernels.selective_scan import selective_scan  # noqa: E402
from danlu.kernels.selective_scan.triton import selective_scan_triton  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA and not INTERPRET else "cpu"
needs_kernels = pytest.mark.skipif(not (INTERPRET or CUDA),
                                   reason="kernels run under TRITON_INTERPRET=1 (subprocess test) or on CUDA")
TOL = {torch.float32: (1e-5, 1e-4), torch.float16: (2e-3, 5e-3), torch.bfloat16: (1.5e-2, 3e-2)}
NAMES = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    floor = 1e-3 * b.numel() ** 0.5
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(floor)).item()


def make(b, d, L, n, form_b, form_c, dtype, extras=True, seed=0):
    g = torch.Generator().manual_seed(seed)

    def r(*s, scale=1.0):
        return torch.randn(*s, generator=g) * scale

    def bc(form):
        return {"const": lambda: r(d, n), "time": lambda: r(b, n, L), "group": lambda: r(b, 2, n, L)}[form]()

    a = {"u": r(b, d, L).to(dtype), "delta": (r(b, d, L) * 0.5 - 1).to(dtype),
         "A": -torch.rand(d, n, generator=g) * 4 - 0.1, "B": bc(form_b).to(dtype), "C": bc(form_c).to(dtype)}
    if extras:
        a.update(D=r(d), z=r(b, d, L).to(dtype), delta_bias=r(d, scale=0.1))
    return {k: v.to(DEVICE) for k, v in a.items()}


def check(b, d, L, n, form_b, form_c, dtype, extras=True, softplus=True, with_last=True):
    a = make(b, d, L, n, form_b, form_c, dtype, extras)
    leaves = {k: v.clone().requires_grad_() for k, v in a.items()}
    out, last = selective_scan(**leaves, delta_softplus=softplus, return_last_state=True, backend="triton")
    g = torch.Generator().manual_seed(9)
    w_out = torch.randn(out.shape, generator=g, dtype=torch.float64).to(DEVICE)
    w_last = torch.randn(last.shape, generator=g, dtype=torch.float64).to(DEVICE) * with_last
    got = torch.autograd.grad((out.double() * w_out).sum() + (last.double() * w_last).sum(),
                              list(leaves.values()))
    ref_leaves = {k: v.detach().double().requires_grad_() for k, v in a.items()}
    ro, rl = selective_scan(**ref_leaves, delta_softplus=softplus, return_last_state=True, backend="sequential")
    ref = torch.autograd.grad((ro * w_out).sum() + (rl * w_last).sum(), list(ref_leaves.values()))
    tol_o, tol_g = TOL[dtype]
    assert out.dtype == dtype and last.dtype == torch.float32
    errs = {"out": rel(out, ro), "last": rel(last, rl)}
    errs.update({f"d{k}": rel(x, y) for k, x, y in zip(leaves, got, ref)})
    for k, e in errs.items():
        assert e <= (tol_o if k in ("out", "last") else tol_g), f"{k}: rel err {e:.2e} (all {errs})"
    for k, x in zip(leaves, got):
        assert x.dtype == leaves[k].dtype, k


# --------------------------------------------------------------------------- interpreter (or CUDA)
@needs_kernels
@pytest.mark.parametrize(("form_b", "form_c", "L"), [("time", "time", 13), ("const", "const", 13),
                                                     ("group", "time", 13), ("const", "group", 13), ("time", "group", 1)])
def test_matches_sequential_fp32(form_b, form_c, L):
    check(2, 4, L, 3, form_b, form_c, torch.float32)


@needs_kernels
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["fp16", "bf16"])
def test_matches_sequential_half(dtype):
    check(2, 6, 11, 5, "time", "time", dtype)


@needs_kernels
def test_without_extras_and_softplus():
    check(1, 4, 9, 4, "time", "const", torch.float32, extras=False, softplus=False, with_last=False)


@needs_kernels
def test_no_grad_forward_equals_chunked():
    a = make(2, 8, 20, 4, "group", "group", torch.float32)
    with torch.no_grad():
        tri = selective_scan(**a, delta_softplus=True, backend="triton")
        ch = selective_scan(**a, delta_softplus=True, backend="chunked")
    assert rel(tri, ch) < 1e-5


# ------------------------------------------------------------------------------- bad input (anywhere)
def test_bad_input_clear_error():
    a = make(1, 4, 5, 3, "time", "time", torch.float64, extras=False)
    with pytest.raises(DanluError, match="use backend='chunked' for float64"):
        selective_scan_triton(**a)
    a = make(1, 4, 5, 3, "time", "time", torch.float32, extras=False)
    big = {**a, "A": torch.zeros(4, 300), "B": torch.zeros(1, 300, 5), "C": torch.zeros(1, 300, 5)}
    with pytest.raises(DanluError, match="N = 300 exceeds 256"):
        selective_scan_triton(**{k: v.to(DEVICE) for k, v in big.items()})
    if not (INTERPRET or CUDA):
        with pytest.raises(DanluError, match="needs CUDA tensors"):
            selective_scan(**a, backend="triton")


# ---------------------------------------------------------------------------------------- GPU shapes
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=["fp32", "fp16", "bf16"])
@pytest.mark.parametrize(("b", "d", "L", "n", "form"), [(2, 256, 2048, 16, "time"), (1, 512, 4096, 16, "group"),
                                                        (3, 96, 1000, 8, "const")])
def test_gpu_shapes(b, d, L, n, form, dtype):
    check(b, d, L, n, form, form, dtype)


# ------------------------------------------------------------------------------ interpreter launcher
@pytest.mark.skipif(INTERPRET, reason="already inside the interpreter run")
def test_kernels_under_triton_interpreter(run_under_triton_interpreter):
    """Runs this file's kernel tests on CPU with TRITON_INTERPRET=1 in a fresh interpreter."""
    out = run_under_triton_interpreter(__file__)
    assert " passed" in out and " failed" not in out, out[-2000:]


# ------------------------------------------------------------------------------ sm_90 compile check
@pytest.mark.slow
@pytest.mark.skipif(INTERPRET, reason="compiles the JIT kernels, not the interpreted ones")
@pytest.mark.parametrize(("dtype", "flags"), [("bf16", True), ("fp32", True), ("fp16", False)])
def test_kernels_compile_for_sm90(dtype, flags):
    """Ahead-of-time compile for Hopper (Triton's bundled ptxas, no GPU), every optional input on and off."""
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile

    from danlu.kernels.selective_scan import triton as ss

    fp32 = {"A", "Dp", "BIAS", "X", "LAST", "DLAST", "DU", "DDELTA", "DZ", "DA", "DB", "DC", "DD", "DBIAS"}
    for kind, fn in ss._KERNELS.items():
        consts = {"BD": 32, "BN": 16, "HAS_D": flags, "HAS_Z": flags, "HAS_BIAS": flags, "SOFTPLUS": flags}
        consts.update({k: flags for k in ("SAVE", "HAS_DLAST", "B_VAR", "C_VAR") if k in fn.arg_names})
        ptrs = {"U", "DELTA", "Bp", "Cp", "Z", "OUT", "DOUT"} | fp32
        sig = {a: "constexpr" if a in consts else (("*fp32" if a in fp32 else f"*{dtype}") if a in ptrs else "i32")
               for a in fn.arg_names}
        k = compile(ASTSource(fn, sig, consts), target=GPUTarget("cuda", 90, 32), options={"num_warps": 4})
        assert k.metadata.shared <= 227 * 1024, (kind, k.metadata.shared)
