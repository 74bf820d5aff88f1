"""Margin heads against independent float64 references written from the papers' formulas.

The references go through θ = arccos(cos θ) and evaluate cos(mθ), cos(θ + m) directly (numpy, float64),
where danlu uses the Chebyshev recurrence and sin = sqrt(1 - cos²); gradients are checked against
autograd through the reference and against finite differences (torch.autograd.gradcheck).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from danlu.errors import DanluError
from danlu.losses import MARGIN_HEADS, create_margin_head
from danlu.losses.margin import chebyshev_cos, sphere_lambda, sphere_psi

B, D, C = 7, 5, 4


def _data(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (B,), generator=g)
    return x, y


def _head(name: str, **kw):
    torch.manual_seed(1)
    return create_margin_head(name, D, C, **kw).double()


# ------------------------------------------------------------------------------ numpy references
def _np_cos(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)) @ (w / np.linalg.norm(w, axis=1, keepdims=True)).T


def _np_psi(theta: np.ndarray, m: int) -> np.ndarray:
    k = np.minimum(np.floor(theta * m / math.pi), m - 1)
    return (-1.0) ** k * np.cos(m * theta) - 2 * k


def _np_target(name: str, cos_y, xnorm, wnorm, kw, lam=0.0):
    theta = np.arccos(np.clip(cos_y, -1, 1))
    if name in ("lsoftmax", "sphereface"):
        scale = xnorm * (wnorm if name == "lsoftmax" else 1.0)
        return scale * (lam * cos_y + _np_psi(theta, kw["m"])) / (1 + lam)
    s = kw.get("s")
    if name == "normface":
        return s * cos_y
    if name == "cosface":
        return s * (cos_y - kw["m"])
    if name == "arcface":
        m = kw["m"]
        if kw.get("easy_margin"):
            return s * np.where(cos_y > 0, np.cos(theta + m), cos_y)
        return s * np.where(theta < math.pi - m, np.cos(theta + m), cos_y - m * math.sin(m))
    m1, m2, m3 = kw["m1"], kw["m2"], kw["m3"]
    if m1 == 1:
        body = np.where(theta < math.pi - m2, np.cos(theta + m2), cos_y - m2 * math.sin(m2))
    else:
        body = np.cos(m1 * theta + m2)
    return s * (body - m3)


def _np_logits(name, x, w, y, kw, lam=0.0):
    cos = _np_cos(x, w)
    xnorm = np.linalg.norm(x, axis=1)
    if name in ("lsoftmax", "sphereface"):
        wn = w if name == "lsoftmax" else w / np.linalg.norm(w, axis=1, keepdims=True)
        plain = x @ wn.T
    else:
        plain = kw["s"] * cos
    out = plain.copy()
    rows = np.arange(len(y))
    out[rows, y] = _np_target(name, cos[rows, y], xnorm, np.linalg.norm(w, axis=1)[y], kw, lam)
    return out


def _np_ce(logits, y):
    mx = logits.max(1, keepdims=True)
    lse = mx[:, 0] + np.log(np.exp(logits - mx).sum(1))
    return float(np.mean(lse - logits[np.arange(len(y)), y]))


CONFIGS = [
    ("lsoftmax", {"m": 2, "anneal": False}),
    ("lsoftmax", {"m": 3}),
    ("sphereface", {"m": 4, "anneal": False}),
    ("sphereface", {"m": 4}),
    ("normface", {"s": 10.0}),
    ("cosface", {"s": 10.0, "m": 0.35}),
    ("arcface", {"s": 10.0, "m": 0.5}),
    ("arcface", {"s": 10.0, "m": 0.5, "easy_margin": True}),
    ("arcface", {"s": 10.0, "m": 1.2}),
    ("combined", {"s": 10.0, "m1": 1.0, "m2": 0.3, "m3": 0.2}),
    ("combined", {"s": 10.0, "m1": 0.8, "m2": 0.4, "m3": 0.1}),
]
IDS = [f"{n}-{'-'.join(f'{k}{v}' for k, v in kw.items())}" for n, kw in CONFIGS]


def test_every_registered_head_is_covered():
    assert {n for n, _ in CONFIGS} == set(MARGIN_HEADS.names())


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_logits_and_loss_match_float64_reference(name, kw):
    head = _head(name, **kw)
    x, y = _data()
    lam = head.lam if hasattr(head, "lam") else 0.0
    ref = _np_logits(name, x.numpy(), head.weight.detach().numpy(), y.numpy(), kw, lam)
    got = head.logits(x, y)
    np.testing.assert_allclose(got.detach().numpy(), ref, rtol=1e-9, atol=1e-9)
    head.eval()  # no annealing step
    assert head(x, y).item() == pytest.approx(_np_ce(ref, y.numpy()), rel=1e-9, abs=1e-10)


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_gradients_match_autograd_through_the_arccos_reference(name, kw):
    head = _head(name, **kw).eval()
    x, y = _data(3)
    x.requires_grad_(True)
    head(x, y).backward()
    w = head.weight.detach().clone().requires_grad_(True)
    xr = x.detach().clone().requires_grad_(True)
    cos = F.normalize(xr, dim=1) @ F.normalize(w, dim=1).t()
    theta = torch.acos(cos)
    lam = head.lam if hasattr(head, "lam") else 0.0
    if name in ("lsoftmax", "sphereface"):
        wn = w if name == "lsoftmax" else F.normalize(w, dim=1)
        plain = xr @ wn.t()
        m = kw["m"]
        k = torch.clamp(torch.floor(theta.detach() * m / math.pi), max=m - 1)
        psi = (-1.0) ** k * torch.cos(m * theta) - 2 * k
        scale = xr.norm(dim=1, keepdim=True) * (w.norm(dim=1)[None] if name == "lsoftmax" else 1.0)
        target = scale * (lam * cos + psi) / (1 + lam)
    else:
        s = kw["s"]
        plain = s * cos
        if name == "normface":
            target = s * cos
        elif name == "cosface":
            target = s * (cos - kw["m"])
        else:
            m2 = kw.get("m", kw.get("m2"))
            m1, m3 = kw.get("m1", 1.0), kw.get("m3", 0.0)
            if kw.get("easy_margin"):
                target = s * torch.where(cos > 0, torch.cos(theta + m2), cos)
            elif m1 == 1:
                target = s * (torch.where(theta < math.pi - m2, torch.cos(theta + m2), cos - m2 * math.sin(m2)) - m3)
            else:
                target = s * (torch.cos(m1 * theta + m2) - m3)
    onehot = F.one_hot(y, C).bool()
    loss = F.cross_entropy(torch.where(onehot, target, plain), y)
    loss.backward()
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(head.weight.grad, w.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize(("name", "kw"), CONFIGS[:1] + CONFIGS[2:3] + CONFIGS[5:7] + CONFIGS[9:], ids=lambda v: str(v))
def test_gradcheck_finite_differences(name, kw):
    head = _head(name, **kw).eval()
    x, y = _data(5)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda e: head(e, y), (x,), eps=1e-6, atol=1e-6)


def test_chebyshev_is_cos_m_theta():
    theta = torch.linspace(0, math.pi, 101, dtype=torch.float64)
    for m in range(0, 7):
        torch.testing.assert_close(chebyshev_cos(torch.cos(theta), m), torch.cos(m * theta), rtol=0, atol=1e-12)


@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_sphere_psi_is_monotone_and_continuous(m):
    theta = np.linspace(0, math.pi, 2001)
    psi = sphere_psi(torch.tensor(np.cos(theta)), m).numpy()
    np.testing.assert_allclose(psi, _np_psi(theta, m), atol=1e-9)
    assert np.all(np.diff(psi) <= 1e-12)
    assert psi[0] == pytest.approx(1.0) and psi[-1] == pytest.approx(-(2 * m - 1))
    assert np.max(np.abs(np.diff(psi))) < 0.05  # no jumps at the piece boundaries


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_target_logit_decreases_in_theta(name, kw):
    head = _head(name, **kw).eval()
    w = head.weight.detach()[0]
    u = torch.randn(D, dtype=torch.float64)
    u = u - (u @ w) / (w @ w) * w
    thetas = torch.linspace(0, math.pi, 721, dtype=torch.float64)
    emb = torch.cos(thetas)[:, None] * F.normalize(w, dim=0) + torch.sin(thetas)[:, None] * F.normalize(u, dim=0)
    t = head.logits(emb, torch.zeros(len(thetas), dtype=torch.long))[:, 0].detach()
    steps = t[1:] - t[:-1]
    if kw.get("easy_margin"):  # insightface's easy margin: decreasing on each side of π/2, jumps back up there
        up = torch.nonzero(steps > 1e-9).flatten()
        assert len(up) == 1 and thetas[up[0]] <= math.pi / 2 < thetas[up[0] + 1]
        assert steps[up[0]] == pytest.approx(kw["s"] * math.sin(kw["m"]), rel=0.02)
        steps = torch.cat([steps[:up[0]], steps[up[0] + 1:]])
    assert torch.all(steps <= 1e-9)
    assert torch.all(t <= head.logits(emb)[:, 0] + 1e-9)  # the margin never raises the target logit


@pytest.mark.parametrize(("name", "kw"), CONFIGS, ids=IDS)
def test_theta_at_0_and_pi_and_zero_embeddings_give_finite_gradients(name, kw):
    head = _head(name, **kw).eval()
    w = head.weight.detach()
    x = torch.stack([2 * w[1], -3 * w[2], torch.zeros(D, dtype=torch.float64)]).requires_grad_(True)
    y = torch.tensor([1, 2, 0])
    loss = head(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all() and torch.isfinite(head.weight.grad).all()
    assert torch.all(head.logits(x[2:].detach()) == 0)  # a zero embedding scores 0 everywhere


def test_zero_margins_reduce_to_normface_and_softmax():
    x, y = _data(7)
    nf = _head("normface", s=12.0).logits(x, y)
    for name, kw in (("arcface", {"m": 0.0}), ("cosface", {"m": 0.0}),
                     ("combined", {"m1": 1.0, "m2": 0.0, "m3": 0.0})):
        torch.testing.assert_close(_head(name, s=12.0, **kw).logits(x, y), nf, rtol=1e-12, atol=1e-12)
    ls = _head("lsoftmax", m=1)
    torch.testing.assert_close(ls(x, y), F.cross_entropy(x @ ls.weight.t(), y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_head("combined", s=12.0, m1=1.0, m2=0.4, m3=0.0).logits(x, y),
                               _head("arcface", s=12.0, m=0.4).logits(x, y), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(_head("combined", s=12.0, m1=1.0, m2=0.0, m3=0.3).logits(x, y),
                               _head("cosface", s=12.0, m=0.3).logits(x, y), rtol=1e-12, atol=1e-12)


def test_annealing_follows_the_sphereface_schedule():
    head = _head("sphereface", m=4, base=1000.0, gamma=0.12, power=1.0, lambda_min=5.0)
    x, y = _data()
    seen = []
    for _ in range(4):
        seen.append(head.lam)
        head(x, y)
    assert seen == pytest.approx([1000.0 / (1 + 0.12 * t) for t in range(4)])
    assert sphere_lambda(10**6) == 5.0
    head.eval()
    head(x, y)
    assert int(head.iteration) == 4  # evaluation does not advance the schedule


def test_bad_inputs_are_refused_with_the_valid_range():
    x, y = _data()
    head = _head("arcface", s=8.0, m=0.5)
    with pytest.raises(DanluError, match=r"labels must lie in \[0, 3\]"):
        head(x, torch.tensor([0, 1, 2, 3, 4, 0, 1]))
    with pytest.raises(DanluError, match="integer class indices"):
        head(x, y.double())
    with pytest.raises(DanluError, match=r"embeddings must be \(B, 5\)"):
        head(x[:, :3], y)
    with pytest.raises(DanluError, match=r"\[0, π/2\]"):
        create_margin_head("arcface", D, C, m=2.0)
    with pytest.raises(DanluError, match="m1·π"):
        create_margin_head("combined", D, C, m1=1.2, m2=0.1, m3=0.0)
    with pytest.raises(DanluError, match="integer >= 1"):
        create_margin_head("sphereface", D, C, m=1.5)
    with pytest.raises(DanluError, match="s must be > 0"):
        create_margin_head("cosface", D, C, s=0.0)
    with pytest.raises(DanluError, match="m must be >= 0"):
        create_margin_head("cosface", D, C, m=-0.1)
    with pytest.raises(DanluError, match="unknown margin head"):
        create_margin_head("arcfase", D, C)
