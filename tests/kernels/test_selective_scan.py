"""selective_scan: sequential vs an einsum transcription of mamba_ssm's ``selective_scan_ref``, and
chunked vs sequential in float64 (outputs, last state and the gradients of every input).

Reference: ``ref_scan`` below restates mamba_ssm's ``selective_scan_ref`` algorithm (materialise
exp(Δ A) and Δ B u for all steps with einsum, then loop), written independently of danlu's code
path (einsum instead of channel_mul). Float64 tolerances: 1e-12 absolute on O(1) values.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.kernels.selective_scan import SCAN_BACKENDS, selective_scan
from danlu.kernels.selective_scan._inputs import prepare
from danlu.kernels.selective_scan.chunked import scan_chunked


def ref_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """mamba_ssm selective_scan_ref semantics, restated with einsum (float64 in, float64 out)."""
    if delta_bias is not None:
        delta = delta + delta_bias[:, None]
    if delta_softplus:
        delta = F.softplus(delta)
    b, d, L = u.shape

    def per_channel(M):
        if M.dim() == 2:
            return M[None, :, :, None].expand(b, d, M.shape[1], L)
        if M.dim() == 3:
            M = M[:, None]
        return M.repeat_interleave(d // M.shape[1], dim=1)                          # (b, d, n, L)

    Bc, Cc = per_channel(B), per_channel(C)
    dA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    dBu = torch.einsum("bdl,bdnl,bdl->bdln", delta, Bc, u)
    x = u.new_zeros(b, d, A.shape[1])
    ys = []
    for i in range(L):
        x = dA[:, :, i] * x + dBu[:, :, i]
        ys.append(torch.einsum("bdn,bdn->bd", x, Cc[..., i]))
    y = torch.stack(ys, 2)
    if D is not None:
        y = y + u * D[:, None]
    if z is not None:
        y = y * F.silu(z)
    return y, x


def make(b, d, L, n, form_b, form_c, extras=True, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)

    def r(*s):
        return torch.randn(*s, generator=g, dtype=dtype)

    def bc(form):
        return {"const": lambda: r(d, n), "time": lambda: r(b, n, L), "group": lambda: r(b, 2, n, L)}[form]()

    args = dict(u=r(b, d, L), delta=r(b, d, L) * 0.5 - 1.0, A=-torch.rand(d, n, generator=g, dtype=dtype) * 4 - 0.1,
                B=bc(form_b), C=bc(form_c))
    if extras:
        args.update(D=r(d), z=r(b, d, L), delta_bias=r(d) * 0.1, delta_softplus=True)
    return args


FORMS = [("time", "time"), ("const", "const"), ("group", "group"), ("const", "group"), ("time", "const")]


@pytest.mark.parametrize(("form_b", "form_c"), FORMS)
@pytest.mark.parametrize("L", [1, 37, 64])
def test_sequential_matches_selective_scan_ref(form_b, form_c, L):
    a = make(2, 4, L, 3, form_b, form_c)
    out, last = selective_scan(**a, backend="sequential", return_last_state=True)
    ro, rl = ref_scan(**a)
    torch.testing.assert_close(out, ro, atol=1e-12, rtol=0)
    torch.testing.assert_close(last, rl, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("form_b", "form_c"), FORMS)
@pytest.mark.parametrize(("L", "chunk", "tile"), [(1, 16, 4), (37, 8, 2), (64, 16, 16), (100, 7, 3)])
@pytest.mark.parametrize("grad", [False, True], ids=["inplace", "autograd"])
def test_chunked_equals_sequential_float64(form_b, form_c, L, chunk, tile, grad):
    a = make(2, 4, L, 3, form_b, form_c, seed=L)
    with torch.set_grad_enabled(grad):
        s = prepare(a["u"], a["delta"], a["A"], a["B"], a["C"], a["delta_bias"], True)
        if grad:
            s.u.requires_grad_()
        y, last = scan_chunked(s, chunk_size=chunk, chunks_per_tile=tile)
    ry, rl = SCAN_BACKENDS.get("sequential")(a["u"], a["delta"], a["A"], a["B"], a["C"], None, None,
                                             a["delta_bias"], True)
    torch.testing.assert_close(y, ry, atol=1e-12, rtol=0)
    torch.testing.assert_close(last, rl, atol=1e-12, rtol=0)


@pytest.mark.parametrize(("form_b", "form_c"), [("time", "time"), ("const", "group")])
@pytest.mark.parametrize("L", [1, 37])
def test_chunked_gradients_equal_sequential(form_b, form_c, L):
    a = make(2, 4, L, 3, form_b, form_c, seed=3)
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
    grads = {}
    for backend in ("sequential", "chunked"):
        leaves = {k: a[k].clone().requires_grad_() for k in names}
        out, last = selective_scan(**leaves, delta_softplus=True, backend=backend, return_last_state=True)
        w = torch.Generator().manual_seed(7)
        loss = (out * torch.randn(out.shape, generator=w, dtype=out.dtype)).sum() + (last ** 2).sum()
        grads[backend] = torch.autograd.grad(loss, [leaves[k] for k in names])
    for k, gs, gc in zip(names, grads["sequential"], grads["chunked"]):
        torch.testing.assert_close(gc, gs, atol=1e-11, rtol=0, msg=lambda m, k=k: f"d{k}: {m}")


def test_sequential_gradcheck():
    """The reference's autograd gradients equal finite differences (torch.autograd.gradcheck)."""
    a = make(1, 2, 5, 2, "time", "group" if False else "time", seed=5)
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
    leaves = [a[k].clone().requires_grad_() for k in names]

    def f(*xs):
        return selective_scan(*xs[:5], D=xs[5], z=xs[6], delta_bias=xs[7], delta_softplus=True,
                              backend="sequential")

    assert torch.autograd.gradcheck(f, leaves)


def test_length_one_closed_form():
    """L = 1: y = C·(Δ B u) + D u exactly (one step from x_0 = 0)."""
    a = make(2, 3, 1, 4, "time", "time", extras=False)
    out = selective_scan(**a, D=torch.ones(3, dtype=torch.float64), backend="chunked")
    want = torch.einsum("bd,bn,bn->bd", a["delta"][..., 0] * a["u"][..., 0], a["B"][..., 0], a["C"][..., 0])
    torch.testing.assert_close(out[..., 0], want + a["u"][..., 0], atol=1e-13, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_dtypes(dtype):
    """Output keeps u's dtype; the state is float32; chunked ≈ float64 sequential."""
    a = make(1, 8, 50, 4, "time", "time", seed=2)
    lo = {k: (v.to(dtype) if isinstance(v, torch.Tensor) else v) for k, v in a.items()}
    out, last = selective_scan(**lo, backend="chunked", return_last_state=True)
    ref, _ = selective_scan(**{k: (v.to(dtype).double() if isinstance(v, torch.Tensor) else v) for k, v in a.items()},
                            backend="sequential", return_last_state=True)
    assert out.dtype == dtype and last.dtype == torch.float32
    tol = 1e-5 if dtype == torch.float32 else 2e-2
    assert ((out.double() - ref).norm() / ref.norm()).item() < tol


def test_auto_backend_on_cpu_is_chunked_and_equal():
    a = make(1, 4, 20, 3, "time", "time")
    torch.testing.assert_close(selective_scan(**a), selective_scan(**a, backend="sequential"), atol=1e-12, rtol=0)


# ------------------------------------------------------------------------------------------ bad input
def _ok():
    return make(2, 4, 10, 3, "time", "time", extras=False)


@pytest.mark.parametrize(("change", "needle"), [
    ({"delta": torch.zeros(2, 4, 9)}, r"delta \(2, 4, 9\) must have u's shape \(2, 4, 10\)"),
    ({"A": torch.zeros(5, 3)}, r"A \(5, 3\).*u \(2, 4, 10\)"),
    ({"B": torch.zeros(2, 3, 11)}, r"B \(2, 3, 11\)"),
    ({"C": torch.zeros(2, 3, 3, 10)}, r"D % G == 0.*C \(2, 3, 3, 10\)"),
    ({"A": torch.zeros(4, 3, dtype=torch.complex64)}, "complex"),
    ({"u": torch.zeros(2, 4, 10, dtype=torch.int64)}, "floating"),
    ({"u": torch.zeros(2, 4, 0), "delta": torch.zeros(2, 4, 0)}, "L = 0"),
    ({"D": torch.zeros(5)}, r"D must be \(D,\)"),
    ({"z": torch.zeros(2, 4)}, "z"),
], ids=["delta", "A", "B", "C-groups", "complex", "int", "empty", "D", "z"])
def test_bad_input_clear_error(change, needle):
    a = {**_ok(), **{k: v.double() if not v.is_complex() and v.dtype != torch.int64 else v for k, v in change.items()}}
    with pytest.raises(DanluError, match=needle):
        selective_scan(**a)


def test_unknown_backend_and_bad_chunk():
    with pytest.raises(DanluError, match="unknown selective_scan backend 'fast'"):
        selective_scan(**_ok(), backend="fast")
    a = _ok()
    s = prepare(a["u"], a["delta"], a["A"], a["B"], a["C"], None, False)
    with pytest.raises(DanluError, match="chunk_size"):
        scan_chunked(s, chunk_size=0)
