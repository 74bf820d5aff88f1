"""RRR's input-gradient penalty against its closed form for a linear model, finite differences, and a
hand-written training loop; decoy MNIST built as Ross et al. describe it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from danlu.data import load_dataset
from danlu.errors import DanluError
from danlu.priors.decoy import corner_masks, shade
from danlu.priors.rrr import RRRArgs, RRRTask, input_gradient_penalty
from danlu.train import fit


def test_penalty_of_a_linear_model_is_the_closed_form():
    """logits = x W^T + b: d/dx Σ_k log p_k = W^T (1 - C p), so the penalty is mean_n |A_n ⊙ W^T(1 - C p_n)|²."""
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    w, b = torch.randn(3, 5, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    mask = (torch.rand(6, 5, generator=g) > 0.5).double()
    got = input_gradient_penalty(x @ w.t() + b, x, mask)
    z = x.detach().numpy() @ w.numpy().T + b.numpy()
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    grad = (1 - 3 * p) @ w.numpy()  # (6, 5)
    assert got.item() == pytest.approx(float(((mask.numpy() * grad) ** 2).sum(1).mean()), rel=1e-12)


def test_penalty_gradient_against_finite_differences():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, generator=g, dtype=torch.float64)
    mask = torch.zeros(1, 6, dtype=torch.float64)
    mask[0, :3] = 1
    w1 = torch.randn(5, 6, generator=g, dtype=torch.float64, requires_grad=True)
    w2 = torch.randn(3, 5, generator=g, dtype=torch.float64, requires_grad=True)

    def pen(a, b):
        xi = x.clone().requires_grad_(True)
        return input_gradient_penalty(torch.tanh(xi @ a.t()) @ b.t(), xi, mask)

    assert torch.autograd.gradcheck(pen, (w1, w2), eps=1e-6, atol=1e-6)


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 8, generator=g)
    y = (x[:, 0] > 0).long()
    mask = torch.zeros(n, 8)
    mask[:, 4:] = 1
    return x, y, mask


def test_rrr_task_matches_a_hand_written_loop_and_zero_mask_is_plain_ce():
    x, y, mask = _data()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2))
    ref, plain_ref, plain = copy.deepcopy(model), copy.deepcopy(model), copy.deepcopy(model)
    steps, b, lam = 6, 16, 5.0
    fit(RRRTask(RRRArgs(weight=lam)), model, torch.utils.data.TensorDataset(x, y, mask), steps=steps, seed=3,
        batch_size=b, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    g = torch.Generator().manual_seed(3)
    perm = torch.randperm(len(x), generator=g)
    for i in range(steps):
        if (i % 4) == 0 and i:
            perm = torch.randperm(len(x), generator=g)
        idx = perm[(i % 4) * b:(i % 4 + 1) * b]
        xi = x[idx].clone().requires_grad_(True)
        logits = ref(xi)
        lp = F.log_softmax(logits, 1)
        (gx,) = torch.autograd.grad(lp.sum(), xi, create_graph=True)
        loss = F.cross_entropy(logits, y[idx]) + lam * ((mask[idx] * gx) ** 2).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    for k, v in ref.state_dict().items():
        torch.testing.assert_close(model.state_dict()[k], v, rtol=1e-5, atol=1e-6, msg=k)
    # with an all-zero mask RRR is plain cross entropy
    fit(RRRTask(RRRArgs(weight=lam)), plain, torch.utils.data.TensorDataset(x, y, torch.zeros_like(mask)),
        steps=steps, seed=3, batch_size=b, optimizer=torch.optim.SGD(plain.parameters(), lr=0.1))
    fit("classification", plain_ref, torch.utils.data.TensorDataset(x, y), steps=steps, seed=3, batch_size=b,
        optimizer=torch.optim.SGD(plain_ref.parameters(), lr=0.1))
    for k, v in plain_ref.state_dict().items():
        torch.testing.assert_close(plain.state_dict()[k], v, rtol=1e-5, atol=1e-6, msg=k)
    assert not torch.allclose(plain.state_dict()["0.weight"], model.state_dict()["0.weight"])


def test_bad_inputs():
    x, y, mask = _data(8)
    xi = x.clone().requires_grad_(True)
    logits = torch.nn.Linear(8, 2)(xi)
    with pytest.raises(DanluError, match="mask must have the input's shape"):
        input_gradient_penalty(logits, xi, mask[:, :4])
    with pytest.raises(DanluError, match="must require grad"):
        input_gradient_penalty(logits.detach(), x, mask)
    with pytest.raises(DanluError, match=r"\(x, y, mask\)"):
        fit(RRRTask(), torch.nn.Linear(8, 2), torch.utils.data.TensorDataset(x, y), steps=1, seed=0, batch_size=4)
    with pytest.raises(DanluError, match="weight must be >= 0"):
        RRRTask(RRRArgs(weight=-1.0))


def test_decoy_mnist_follows_ross_et_al():
    base = load_dataset("mnist5k", seed=1)
    s = load_dataset("decoy_mnist", seed=1, with_masks=True)
    x, y, mask = s.train.tensors
    assert mask.shape == x.shape and bool((mask.flatten(1).sum(1) == 16).all())
    m = mask.bool()
    torch.testing.assert_close(x[~m], base.train.tensors[0][~m])  # the digit is untouched
    on = (x * mask).flatten(1).sum(1) / 16
    torch.testing.assert_close(on, shade(y))  # train: the swatch's shade is 1 - 25 y / 255
    corner = torch.stack([mask[:, 0, :4, :4].sum((1, 2)), mask[:, 0, :4, -4:].sum((1, 2)),
                          mask[:, 0, -4:, :4].sum((1, 2)), mask[:, 0, -4:, -4:].sum((1, 2))], 1)
    assert bool((corner.max(1).values == 16).all()) and bool((corner > 0).sum(0).min() > 500)  # every corner used
    xt, yt = s.test.tensors
    # test: the swatch shade is one of the ten shades, but matches the label only by chance
    top = torch.stack([xt[:, 0, :4, :4].mean((1, 2)), xt[:, 0, :4, -4:].mean((1, 2)),
                       xt[:, 0, -4:, :4].mean((1, 2)), xt[:, 0, -4:, -4:].mean((1, 2))], 1)
    shades = shade(torch.arange(10))
    hits = (top[:, :, None] - shades).abs().lt(1e-6).any(2)  # (N, 4) which corners hold an exact shade
    label_match = (top - shade(yt)[:, None]).abs().lt(1e-6).any(1).float().mean()
    assert bool(hits.any(1).all()) and 0.03 < float(label_match) < 0.2
    torch.testing.assert_close(corner_masks(torch.tensor([3]), 6, 2)[0, 0],
                               torch.tensor([[0.0] * 6] * 4 + [[0.0] * 4 + [1.0] * 2] * 2))
    with pytest.raises(DanluError, match="patch must be in"):
        load_dataset("decoy_mnist", patch=20)
