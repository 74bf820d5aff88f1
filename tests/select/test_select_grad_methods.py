"""Both GraNd methods (``vmap`` of the whole model; ``modules``: closed forms + per-module vmap of vjp)
against the naive per-example autograd loop in float64, over layer kinds that take different paths."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from danlu.errors import DanluError
from danlu.models import create_model
from danlu.select import grad_norms, grad_norms_loop
from danlu.select.ghost import eligible


class Seq(nn.Module):
    """Tokens through a Linear (3-D input: the ghost-norm branches), LayerNorm, mean-pool, head."""

    def __init__(self, t: int, d: int) -> None:
        super().__init__()
        self.t, self.d = t, d
        self.proj, self.norm, self.head = nn.Linear(d, d), nn.LayerNorm(d), nn.Linear(d, 3)

    def forward(self, x):
        h = self.norm(torch.tanh(self.proj(x.view(len(x), self.t, self.d))))  # (B, T, D)
        return self.head(h.mean(1))


class Scaled(nn.Module):
    """A parameter owned by a non-leaf module (its own vjp covers the child's forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.5, -0.5, 2.0]))
        self.body = nn.Sequential(nn.Linear(12, 7), nn.GELU(), nn.Linear(7, 3))

    def forward(self, x):
        return self.body(x.flatten(1)) * self.scale


class Reused(nn.Module):
    """The same Linear twice: not eligible for 'modules'."""

    def __init__(self) -> None:
        super().__init__()
        self.fc, self.head = nn.Linear(12, 12), nn.Linear(12, 3)

    def forward(self, x):
        return self.head(torch.tanh(self.fc(torch.tanh(self.fc(x.flatten(1))))))


def _grouped():
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1, groups=2), nn.GroupNorm(2, 4), nn.ReLU(),
                         nn.Conv2d(4, 5, 3, stride=2, dilation=1, bias=False), nn.Flatten(), nn.LazyLinear(3))


MODELS = {  # name -> (factory, input shape)
    "mlp-bn": (lambda: create_model("mlp", in_features=12, num_classes=3, depth=2, width=9, norm="bn"), (12,)),
    "cnn-bn": (lambda: create_model("cnn", in_channels=1, num_classes=3, widths=[4, 6], norm="bn"), (1, 10, 10)),
    "seq-short": (lambda: Seq(3, 4), (12,)),     # T*T <= D*D: Gram (ghost) branch
    "seq-long": (lambda: Seq(6, 2), (12,)),      # T*T >  D*D: explicit G^T A branch
    "scaled": (Scaled, (12,)),
    "grouped-conv": (_grouped, (2, 6, 6)),        # groups=2 conv goes through vmap(vjp)
}


def _setup(name: str):
    torch.manual_seed(0)
    factory, shape = MODELS[name]
    model = factory()
    x = torch.randn(13, *shape)
    model(x[:4])  # materialize lazy layers
    model.train()
    model(x * 2 + 0.5)  # non-trivial BatchNorm running statistics
    model = model.double().eval()
    return model, x.double(), torch.randint(0, 3, (13,))


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("method", ["vmap", "modules"])
def test_methods_equal_the_naive_loop_float64(name, method):
    model, x, y = _setup(name)
    assert eligible(model, x)
    got = grad_norms(model, x, y, chunk=5, method=method)
    torch.testing.assert_close(got, grad_norms_loop(model, x, y), rtol=1e-10, atol=1e-12)


def test_reused_module_falls_back_to_vmap_and_modules_is_refused():
    torch.manual_seed(0)
    model = Reused().double()
    x, y = torch.randn(9, 12, dtype=torch.float64), torch.randint(0, 3, (9,))
    assert not eligible(model, x)
    torch.testing.assert_close(grad_norms(model, x, y, chunk=4), grad_norms_loop(model, x, y), rtol=1e-10, atol=1e-12)
    with pytest.raises(DanluError, match="method='vmap'"):
        grad_norms(model, x, y, method="modules")


def test_bad_chunk_and_method():
    model, x, y = _setup("mlp-bn")
    with pytest.raises(DanluError, match="chunk must be a positive int"):
        grad_norms(model, x, y, chunk=0)
    with pytest.raises(DanluError, match="valid: modules, vmap"):
        grad_norms(model, x, y, method="loop")
