"""A configurable MLP: depth, width, activation, norm, dropout, optional residual blocks."""

from __future__ import annotations

from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.layers.norm import make_norm
from danlu.models import MODELS
from danlu.registry import Registry

ACTIVATIONS: Registry = Registry("activation")
for _name, _cls in {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU,
                    "silu": nn.SiLU, "identity": nn.Identity}.items():
    ACTIVATIONS.add(_name, _cls)


class _Block(nn.Module):
    def __init__(self, width: int, activation: str, norm: str, dropout: float, residual: bool) -> None:
        super().__init__()
        self.fc = nn.Linear(width, width)
        self.norm = make_norm(norm, width, spatial=False)
        self.act = ACTIVATIONS.create(activation)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.residual = residual

    def forward(self, x: Tensor) -> Tensor:
        h = self.drop(self.act(self.norm(self.fc(x))))
        return x + h if self.residual else h


@MODELS.register("mlp")
class MLP(nn.Module):
    """Multi-layer perceptron for flat or image inputs (flattened).

    Shapes: x (B, *in_shape) -> logits (B, num_classes).

    Args:
        in_features: input features after flattening.
        num_classes: output size.
        depth: number of hidden layers (>= 1).
        width: hidden size.
        activation: one of ``ACTIVATIONS`` (relu, sigmoid, tanh, gelu, silu, identity).
        norm: ``"bn"``, ``"gn"``, ``"ln"`` or ``"none"`` after each hidden linear layer.
        dropout: dropout probability after each hidden activation.
        residual: add skip connections around hidden layers 2..depth (He et al. 2016, arXiv:1512.03385).
    """

    def __init__(self, in_features: int, num_classes: int, *, depth: int = 2, width: int = 128,
                 activation: str = "relu", norm: str = "none", dropout: float = 0.0,
                 residual: bool = False) -> None:
        super().__init__()
        if depth < 1:
            raise DanluError(f"mlp depth must be >= 1, got {depth}")
        if not 0.0 <= dropout < 1.0:
            raise DanluError(f"dropout must be in [0, 1), got {dropout}")
        self.stem = nn.Sequential(nn.Flatten(), nn.Linear(in_features, width),
                                  make_norm(norm, width, spatial=False), ACTIVATIONS.create(activation))
        self.blocks = nn.ModuleList(_Block(width, activation, norm, dropout, residual) for _ in range(depth - 1))
        self.head = nn.Linear(width, num_classes)

    def hidden_linears(self) -> list[nn.Linear]:
        """The hidden linear layers in order (stem first), for per-layer gradient probes."""
        return [self.stem[1], *(b.fc for b in self.blocks)]

    def forward(self, x: Tensor) -> Tensor:
        h = self.stem(x)
        for b in self.blocks:
            h = b(h)
        return self.head(h)
