"""Triton FlashAttention vs torch SDPA (float64, same inputs) and danlu's reference backend.

How this runs without a GPU: Triton reads ``TRITON_INTERPRET`` when a kernel is decorated, so the
kernel tests cannot switch it on inside this process. ``test_kernels_under_triton_interpreter``
re-runs this file in a subprocess with ``TRITON_INTERPRET=1`` (CPU, numpy), where the
``needs_kernels`` tests run at tiny shapes; on a CUDA machine they also run directly, and the
``gpu`` tests add real shapes. Bad-input tests need no kernel launch and run everywhere.

Error metric: ``rel = ||out - ref||_2 / ||ref||_2`` against SDPA computed in float64 from the same
fp16/bf16 inputs. Tolerances per dtype (a few units of the dtype's rounding, eps16 = 2^-11 ~ 4.9e-4,
eps_bf16 = 2^-8 ~ 3.9e-3): fp16 out 2e-3 / grads 3e-3; bf16 out 1.2e-2 / grads 2e-2.
"""

from __future__ import annotations

import os

import pytest
import torch
import torch.nn.functional as F

pytest.importorskip("triton")

from danlu.errors import DanluError  # noqa: E402
from danlu.kernels.flash_attention import flash_attention  # noqa: E402
from danlu.kernels.flash_attention.triton import flash_attention_triton, triton_supports  # noqa: E402

INTERPRET = os.environ.get("TRITON_INTERPRET", "0") == "1"
CUDA = torch.cuda.is_available()
DEVICE = "cuda" if CUDA and not INTERPRET else "cpu"
needs_kernels = pytest.mark.skipif(not (INTERPRET or CUDA),
                                   reason="kernels run under TRITON_INTERPRET=1 (subprocess test) or on CUDA")
TOL = {torch.float16: (2e-3, 3e-3), torch.bfloat16: (1.2e-2, 2e-2)}  # (output, gradients)
DTYPES = [torch.float16, torch.bfloat16]


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    """||a - b|| / ||b||, with ||b|| floored at RMS 1e-3 (an exactly-zero gradient, e.g. N = 1, stays finite)."""
    floor = 1e-3 * b.numel() ** 0.5
    return ((a.double() - b.double()).norm() / b.double().norm().clamp_min(floor)).item()


def make(b, h, nq, nk, d, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, h, n, d, generator=g).to(DEVICE, dtype) for n in (nq, nk, nk))
    return [t.requires_grad_() for t in (q, k, v)]


def run_and_grads(fn, q, k, v, do):
    o = fn(q, k, v)
    return (o, *torch.autograd.grad(o, (q, k, v), do))


def sdpa64(causal, scale=None):
    def fn(a, b, c):
        return F.scaled_dot_product_attention(a, b, c, is_causal=causal, scale=scale)
    return fn


def check_against_sdpa(b, h, nq, nk, d, causal, dtype, scale=None):
    q, k, v = make(b, h, nq, nk, d, dtype)
    do = torch.randn(b, h, nq, d, generator=torch.Generator().manual_seed(1)).to(DEVICE, dtype)
    got = run_and_grads(lambda a, b_, c: flash_attention_triton(a, b_, c, causal, scale), q, k, v, do)
    ref = run_and_grads(sdpa64(causal, scale),
                        *(t.detach().double().requires_grad_() for t in (q, k, v)), do.double())
    tol_o, tol_g = TOL[dtype]
    errs = [rel(x, y) for x, y in zip(got, ref)]
    assert got[0].dtype == dtype and got[0].shape == (b, h, nq, d)
    assert errs[0] <= tol_o, f"output rel err {errs[0]:.2e} > {tol_o}"
    for name, e in zip("qkv", errs[1:]):
        assert e <= tol_g, f"d{name} rel err {e:.2e} > {tol_g} (all: {errs})"


# --------------------------------------------------------------------------- interpreter (or CUDA)
@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize(("nq", "nk", "d", "causal"), [
    (63, 63, 32, True),     # odd N, causal diagonal crosses tiles
    (100, 100, 64, False),  # tail tile
    (100, 100, 64, True),
    (37, 100, 32, False),   # Nq != Nk
    (100, 37, 48, False),   # Nq > Nk, head dim padded 48 -> 64
    (1, 1, 32, True),       # a single token
])
def test_matches_sdpa(nq, nk, d, causal, dtype):
    check_against_sdpa(1, 2, nq, nk, d, causal, dtype)


@needs_kernels
def test_custom_scale_and_batch():
    check_against_sdpa(2, 1, 40, 40, 32, True, torch.float16, scale=0.3)


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
def test_fp32_accumulation(dtype):
    """Error within a few roundings of the exact answer: a half-precision accumulator over 100 keys would not be.

    fp16: <= 2x the rounding of the exact output. bf16: <= 4x, since P is also rounded to bf16 before the
    P @ V tensor-core product (as in FlashAttention-2), one more rounding of the same size (measured ~3.1x).
    """
    q, k, v = make(1, 2, 100, 100, 64, dtype, seed=3)
    with torch.no_grad():
        o = flash_attention_triton(q, k, v, False, None)
        exact = F.scaled_dot_product_attention(q.double(), k.double(), v.double())
    rounding = rel(exact.to(dtype), exact)
    factor = 2.0 if dtype == torch.float16 else 4.0
    assert rel(o, exact) <= factor * rounding + 1e-4, (rel(o, exact), rounding)


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize(("nq", "nk", "causal"), [(63, 63, True), (37, 100, False)])
def test_return_lse_with_gradients(nq, nk, causal, dtype):
    """o and the natural-log LSE vs the float64 reference (itself tested vs torch.logsumexp), and grads of
    a loss on both (dLSE enters the Triton backward through delta). LSE: absolute error (it is O(log N))."""
    q, k, v = make(1, 2, nq, nk, 32, dtype, seed=11)
    g = torch.Generator().manual_seed(12)
    go, gl = torch.randn(1, 2, nq, 32, generator=g).to(DEVICE), torch.randn(1, 2, nq, generator=g).to(DEVICE)
    o, lse = flash_attention_triton(q, k, v, causal, None, return_lse=True)
    assert lse.dtype == torch.float32 and lse.shape == (1, 2, nq)
    got = [o, *torch.autograd.grad((o.double() * go).sum() + (lse.double() * gl).sum(), (q, k, v))]
    ins = [t.detach().double().requires_grad_() for t in (q, k, v)]
    ro, rlse = flash_attention(*ins, causal=causal, backend="reference", return_lse=True)
    ref = [ro, *torch.autograd.grad((ro * go.double()).sum() + (rlse * gl.double()).sum(), ins)]
    tol_o, tol_g = TOL[dtype]
    assert (lse.double() - rlse).abs().max().item() <= 1e-4
    assert rel(got[0], ref[0]) <= tol_o
    for name, x, y in zip("qkv", got[1:], ref[1:]):
        assert rel(x, y) <= tol_g, f"d{name} rel err {rel(x, y):.2e} > {tol_g}"
    if q.is_cuda:  # the dispatcher's triton backend needs CUDA (the interpreter runs the function directly)
        assert torch.equal(flash_attention(q, k, v, causal=causal, return_lse=True)[0], o)


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize(("hq", "hkv"), [(4, 2), (3, 1)], ids=["gqa", "mqa"])
@pytest.mark.parametrize(("nq", "nk", "causal"), [(63, 63, True), (37, 100, False)])
def test_grouped_query_matches_sdpa_on_repeated_kv(hq, hkv, nq, nk, causal, dtype):
    """K/V with Hkv heads (query head h reads K/V head h // G) vs float64 SDPA on K/V repeated G times;
    dK, dV are the sums over each group (the kernel loops over the group, no atomics)."""
    g = torch.Generator().manual_seed(21)
    q = torch.randn(1, hq, nq, 32, generator=g).to(DEVICE, dtype).requires_grad_()
    k, v = (torch.randn(1, hkv, nk, 32, generator=g).to(DEVICE, dtype).requires_grad_() for _ in range(2))
    do = torch.randn(1, hq, nq, 32, generator=g).to(DEVICE, dtype)
    assert triton_supports(q, k, v, causal)
    got = run_and_grads(lambda a, b, c: flash_attention_triton(a, b, c, causal, None), q, k, v, do)
    rep = hq // hkv
    ref = run_and_grads(lambda a, b, c: F.scaled_dot_product_attention(
        a, b.repeat_interleave(rep, 1), c.repeat_interleave(rep, 1), is_causal=causal),
        *(t.detach().double().requires_grad_() for t in (q, k, v)), do.double())
    tol_o, tol_g = TOL[dtype]
    assert got[2].shape == k.shape and rel(got[0], ref[0]) <= tol_o
    for name, x, y in zip("qkv", got[1:], ref[1:]):
        assert rel(x, y) <= tol_g, f"d{name} rel err {rel(x, y):.2e} > {tol_g}"


@needs_kernels
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize(("nq", "nk", "align"), [
    (37, 100, "bottom_right"),  # offset 63: not a tile multiple, diagonal crosses tiles
    (16, 64, "bottom_right"),   # offset 48, tile-aligned
    (1, 70, "bottom_right"),    # decoding: one query sees every key
    (37, 100, "top_left"),      # Nq < Nk, SDPA's is_causal
    (100, 37, "top_left"),      # Nq > Nk: rows >= 37 see every key
])
def test_causal_alignment_matches_sdpa_with_shifted_mask(nq, nk, align, dtype):
    """Causal Nq != Nk vs float64 SDPA with the keep-mask tril(diagonal = offset), outputs and gradients."""
    q, k, v = make(1, 2, nq, nk, 32, dtype, seed=31)
    do = torch.randn(1, 2, nq, 32, generator=torch.Generator().manual_seed(32)).to(DEVICE, dtype)
    assert triton_supports(q, k, v, True, align)
    got = run_and_grads(lambda a, b, c: flash_attention_triton(a, b, c, True, None, causal_align=align), q, k, v, do)
    keep = torch.ones(nq, nk, dtype=torch.bool, device=DEVICE).tril(nk - nq if align == "bottom_right" else 0)
    ref = run_and_grads(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, attn_mask=keep),
                        *(t.detach().double().requires_grad_() for t in (q, k, v)), do.double())
    tol_o, tol_g = TOL[dtype]
    assert rel(got[0], ref[0]) <= tol_o, rel(got[0], ref[0])
    for name, x, y in zip("qkv", got[1:], ref[1:]):
        assert rel(x, y) <= tol_g, f"d{name} rel err {rel(x, y):.2e} > {tol_g}"


@needs_kernels
def test_matches_danlu_reference_backend():
    q, k, v = make(1, 2, 70, 70, 32, torch.float16, seed=5)
    do = torch.randn(1, 2, 70, 32, generator=torch.Generator().manual_seed(6)).to(DEVICE, torch.float16)
    got = run_and_grads(lambda a, b, c: flash_attention_triton(a, b, c, True, None), q, k, v, do)
    ref = run_and_grads(lambda a, b, c: flash_attention(a, b, c, causal=True, backend="reference"),
                        *(t.detach().float().requires_grad_() for t in (q, k, v)), do.float())
    for x, y in zip(got, ref):
        assert rel(x, y) <= TOL[torch.float16][1]


@needs_kernels
def test_non_contiguous_inputs_read_by_stride():
    """(B, N, H, D) storage transposed to (B, H, N, D): same numbers as the contiguous copy, no copy made."""
    g = torch.Generator().manual_seed(7)
    base = [torch.randn(1, 50, 2, 32, generator=g).to(DEVICE, torch.float16) for _ in range(3)]
    q, k, v = (t.transpose(1, 2).requires_grad_() for t in base)                # (1, 2, 50, 32) strided
    assert not q.is_contiguous()
    qc, kc, vc = (t.detach().contiguous().requires_grad_() for t in (q, k, v))
    do = torch.randn(1, 2, 50, 32, generator=g).to(DEVICE, torch.float16)
    a = run_and_grads(lambda x, y, z: flash_attention_triton(x, y, z, True, None), q, k, v, do.transpose(2, 3)
                      .contiguous().transpose(2, 3))
    b = run_and_grads(lambda x, y, z: flash_attention_triton(x, y, z, True, None), qc, kc, vc, do)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


# ------------------------------------------------------------------------------- bad input (anywhere)
def _t(*shape, dtype=torch.float16, device=DEVICE):
    return torch.zeros(*shape, dtype=dtype, device=device)


@pytest.mark.parametrize(("args", "needle"), [
    ((_t(1, 2, 8, 32, dtype=torch.float32),) * 3 + (False,), "float16 or bfloat16"),
    ((_t(1, 2, 8, 256),) * 3 + (False,), "1..128"),
    ((_t(1, 2, 9, 32), _t(1, 2, 8, 32), _t(1, 2, 8, 32), True, "bottom_right"), "no key"),
    ((_t(1, 2, 8, 32), _t(1, 2, 8, 32), _t(1, 2, 8, 16), False), "head dims differ"),
    ((_t(1, 2, 8, 32), _t(1, 2, 8, 32), _t(1, 2, 7, 32), False), "must match"),
    ((_t(2, 8, 32),) * 3 + (False,), "4-D"),
    ((_t(1, 2, 8, 32), _t(1, 2, 8, 32, device="meta"), _t(1, 2, 8, 32), False), "one device"),
    ((_t(1, 6, 8, 32), _t(1, 4, 8, 32), _t(1, 4, 8, 32), False), "does not divide"),
    ((_t(1, 6, 8, 32), _t(1, 2, 8, 32), _t(1, 3, 8, 32), False), r"\(B, H\)"),
    ((_t(1, 4, 8, 32), _t(1, 2, 8, 32, dtype=torch.bfloat16), _t(1, 2, 8, 32, dtype=torch.bfloat16), False),
     "share dtype and device"),
], ids=["fp32", "d256", "bottom-right-nq-gt-nk", "dv", "nk-v", "3d", "devices", "gqa-divide", "gqa-kv", "gqa-dtype"])
def test_bad_input_clear_error(args, needle):
    align = {"causal_align": args[4]} if len(args) > 4 else {}
    assert not triton_supports(*args[:4], **align)
    with pytest.raises(DanluError, match=needle):
        flash_attention_triton(*args[:4], **align)


@pytest.mark.skipif(INTERPRET or CUDA, reason="checks the plain-CPU refusal")
def test_cpu_without_interpreter_is_refused():
    q = _t(1, 1, 8, 32)
    assert not triton_supports(q, q, q, False)
    with pytest.raises(DanluError, match="CUDA"):
        flash_attention_triton(q, q, q, False)


# ---------------------------------------------------------------------------------------- GPU shapes
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", DTYPES, ids=["fp16", "bf16"])
@pytest.mark.parametrize(("nq", "nk", "d", "causal"), [
    (1024, 1024, 64, True), (2048, 2048, 128, False), (1000, 3000, 64, False), (2047, 2047, 128, True),
    (513, 513, 32, True), (777, 777, 80, False),
])
def test_gpu_shapes(nq, nk, d, causal, dtype):
    check_against_sdpa(2, 4, nq, nk, d, causal, dtype)


@pytest.mark.gpu
@pytest.mark.parametrize(("hq", "hkv", "nq", "nk", "align"), [
    (8, 2, 1000, 3000, "bottom_right"), (8, 1, 2048, 2048, "top_left"), (4, 4, 300, 4096, "bottom_right"),
])
def test_gpu_features(hq, hkv, nq, nk, align):
    """GQA/MQA, causal alignment and return_lse at real shapes (bf16) vs float64 SDPA on repeated K/V."""
    g = torch.Generator().manual_seed(41)
    q = torch.randn(2, hq, nq, 128, generator=g).to(DEVICE, torch.bfloat16).requires_grad_()
    k, v = (torch.randn(2, hkv, nk, 128, generator=g).to(DEVICE, torch.bfloat16).requires_grad_() for _ in range(2))
    do = torch.randn(2, hq, nq, 128, generator=g).to(DEVICE, torch.bfloat16)
    o, lse = flash_attention_triton(q, k, v, True, None, causal_align=align, return_lse=True)
    got = [o, *torch.autograd.grad(o, (q, k, v), do)]
    ins = [t.detach().double().requires_grad_() for t in (q, k, v)]
    rep = hq // hkv
    keep = torch.ones(nq, nk, dtype=torch.bool, device=DEVICE).tril(nk - nq if align == "bottom_right" else 0)
    kr, vr = ins[1].repeat_interleave(rep, 1), ins[2].repeat_interleave(rep, 1)
    ro = F.scaled_dot_product_attention(ins[0], kr, vr, attn_mask=keep)
    ref = [ro, *torch.autograd.grad(ro, ins, do.double())]
    s = (ins[0] @ kr.transpose(-1, -2)).detach() * 128 ** -0.5
    assert (lse.double() - torch.logsumexp(s.masked_fill(~keep, float("-inf")), -1)).abs().max() <= 1e-2
    tol_o, tol_g = TOL[torch.bfloat16]
    assert rel(got[0], ref[0]) <= tol_o
    for name, x, y in zip("qkv", got[1:], ref[1:]):
        assert rel(x, y) <= tol_g, f"d{name} rel err {rel(x, y):.2e} > {tol_g}"


# ------------------------------------------------------------------------------ interpreter launcher
@pytest.mark.skipif(INTERPRET, reason="already inside the interpreter run")
def test_kernels_under_triton_interpreter(run_under_triton_interpreter):
    """Runs this file's kernel tests on CPU with TRITON_INTERPRET=1 in a fresh interpreter."""
    out = run_under_triton_interpreter(__file__)
    assert " passed" in out and " failed" not in out, out[-2000:]


# ------------------------------------------------------------------------------ sm_90 compile check
@pytest.mark.slow
@pytest.mark.skipif(INTERPRET, reason="compiles the JIT kernels, not the interpreted ones")
@pytest.mark.parametrize("d", [64, 128])
def test_every_config_compiles_for_sm90(d):
    """Ahead-of-time compile (no GPU needed: Triton's bundled ptxas) of every autotune config for Hopper.

    Catches codegen errors on the compiled path, which the interpreter never takes, and checks that
    shared memory fits an H100 (227 KiB per block).
    """
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, compile

    from danlu.kernels.flash_attention import triton as fa

    ptrs = {"Q": "*bf16", "K": "*bf16", "V": "*bf16", "O": "*bf16", "DO": "*bf16", "DQ": "*bf16", "DK": "*bf16",
            "DV": "*bf16", "LSE": "*fp32", "DELTA": "*fp32", "qk_scale": "fp32", "sm_scale": "fp32"}
    for kind, fn in fa._KERNELS.items():
        for cfg in fa._CONFIGS[kind]["small" if d <= 64 else "large"]:
            consts = {"CAUSAL": True, "HEAD_DIM": d, "BLOCK_D": d, "UPCAST": False, **cfg.kwargs}
            sig = {a: "constexpr" if a in consts else ptrs.get(a, "i32") for a in fn.arg_names}
            k = compile(ASTSource(fn, sig, consts), target=GPUTarget("cuda", 90, 32),
                        options={"num_warps": cfg.num_warps, "num_stages": cfg.num_stages})
            assert k.metadata.shared <= 227 * 1024, (kind, cfg, k.metadata.shared)
