"""A small convolutional classifier: stages of conv3x3-norm-ReLU(-pool), global average pool, linear.

The default network of ``danlu train`` (MNIST-5k in about a minute on a CPU). Norm layers come
from ``danlu.layers.make_norm`` (``"bn"``, ``"gn"``, ``"ln"``, ``"none"``).

    >>> import torch
    >>> from danlu.models import create_model
    >>> m = create_model("cnn", in_channels=1, num_classes=10, widths=[8, 16], norm="gn")
    >>> m(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.layers.norm import make_norm
from danlu.models import MODELS


@MODELS.register("cnn")
class SmallCNN(nn.Module):
    """Conv net for (B, C, H, W) images -> (B, num_classes) logits.

    Each width in ``widths`` is one stage: Conv2d(3x3, pad 1) -> norm -> ReLU, then a 2x2 max-pool
    while the map is at least 4 pixels wide. A global average pool and a linear head follow.

    Args:
        in_channels: image channels C.
        num_classes: number of classes.
        widths: output channels of each stage.
        norm: ``"bn"``, ``"gn"``, ``"ln"`` or ``"none"`` after each convolution.
        dropout: dropout probability before the head.
        min_pool_size: pool only while the spatial size is at least this (keeps 8x8 inputs valid).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32),
                 norm: str = "bn", dropout: float = 0.0, min_pool_size: int = 4, image_size: int = 28) -> None:
        super().__init__()
        if not widths or any(int(w) <= 0 for w in widths):
            raise DanluError(f"cnn widths must be a non-empty list of positive ints, got {list(widths)}")
        if not 0.0 <= dropout < 1.0:
            raise DanluError(f"cnn dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        c, size = in_channels, image_size
        for w in widths:
            layers += [nn.Conv2d(c, int(w), 3, padding=1, bias=norm == "none"), make_norm(norm, int(w)), nn.ReLU()]
            if size >= min_pool_size:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c = int(w)
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.head = nn.Linear(c, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        h = self.features(x)  # (B, widths[-1], H', W')
        h = self.pool(h).flatten(1)  # (B, widths[-1])
        return self.head(self.drop(h))  # (B, num_classes)
