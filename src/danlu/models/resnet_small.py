"""Small ResNet and its plain twin for small images (He et al., "Deep Residual Learning for Image
Recognition", arXiv:1512.03385).

``resnet_small`` and ``plainnet`` are the same network, layer for layer, except that the plain one
drops every shortcut: the comparison of the paper's Fig. 1/Fig. 4 (deep plain nets degrade,
residual ones do not). Blocks are torchvision's ``BasicBlock`` (conv3x3-norm-ReLU-conv3x3-norm,
+ shortcut, ReLU; tested equal to it), with the norm chosen by ``norm=`` ("bn", "gn", "ln", "none").

    >>> import torch
    >>> from danlu.models import create_model
    >>> m = create_model("resnet_small", in_channels=1, num_classes=10, widths=[16, 32], blocks=2)
    >>> m(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.layers.norm import make_norm
from danlu.models import MODELS


def _conv3x3(cin: int, cout: int, stride: int, norm: str) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=norm == "none")


class BasicBlock(nn.Module):
    """``relu(norm2(conv2(relu(norm1(conv1(x))))) + shortcut(x))``; (B, cin, H, W) -> (B, cout, H/s, W/s).

    ``residual=False`` removes the shortcut (a plain block). The shortcut is the identity, or a
    1x1 strided conv + norm when the shape changes (torchvision's ``downsample``).
    """

    def __init__(self, cin: int, cout: int, *, stride: int = 1, norm: str = "bn", residual: bool = True) -> None:
        super().__init__()
        self.conv1 = _conv3x3(cin, cout, stride, norm)
        self.bn1 = make_norm(norm, cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(cout, cout, 1, norm)
        self.bn2 = make_norm(norm, cout)
        self.residual = residual
        self.downsample: nn.Module | None = None
        if residual and (stride != 1 or cin != cout):
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=norm == "none"),
                                            make_norm(norm, cout))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))  # (B, cout, H', W')
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class SmallResNet(nn.Module):
    """Stem conv3x3 -> stages of ``blocks`` BasicBlocks (stride 2 at each new stage) -> avg pool -> linear.

    Shapes: x (B, in_channels, H, W) -> logits (B, num_classes). Depth in weight layers is
    ``2 + 2 * blocks * len(widths)``.

    Args:
        in_channels: image channels.
        num_classes: number of classes.
        widths: channels of each stage.
        blocks: BasicBlocks per stage (>= 1).
        norm: normalization after each conv ("bn", "gn", "ln", "none").
        residual: keep the shortcuts (False gives the plain network).
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32),
                 blocks: int = 2, norm: str = "bn", residual: bool = True) -> None:
        super().__init__()
        if not widths or any(int(w) <= 0 for w in widths):
            raise DanluError(f"resnet widths must be a non-empty list of positive ints, got {list(widths)}")
        if blocks < 1:
            raise DanluError(f"resnet blocks per stage must be >= 1, got {blocks}")
        w0 = int(widths[0])
        self.stem = nn.Sequential(_conv3x3(in_channels, w0, 1, norm), make_norm(norm, w0), nn.ReLU(inplace=True))
        layers, c = [], w0
        for i, w in enumerate(int(w) for w in widths):
            for j in range(blocks):
                layers.append(BasicBlock(c, w, stride=2 if (i > 0 and j == 0) else 1, norm=norm, residual=residual))
                c = w
        self.blocks = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, num_classes)
        for m in self.modules():  # torchvision's ResNet initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def first_layer(self) -> nn.Conv2d:
        """The convolution next to the input (for first-layer gradient probes)."""
        return self.stem[0]

    def convs(self) -> list[nn.Conv2d]:
        """The 3x3 convolutions in forward order (stem first; shortcut 1x1 convs excluded)."""
        return [self.stem[0], *(c for b in self.blocks for c in (b.conv1, b.conv2))]

    def forward(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))  # (B, widths[-1], H', W')
        return self.head(self.pool(h).flatten(1))  # (B, num_classes)


@MODELS.register("resnet_small")
def resnet_small(in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32), blocks: int = 2,
                 norm: str = "bn") -> SmallResNet:
    """Residual network (see :class:`SmallResNet`)."""
    return SmallResNet(in_channels, num_classes, widths=widths, blocks=blocks, norm=norm, residual=True)


@MODELS.register("plainnet")
def plainnet(in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32), blocks: int = 2,
             norm: str = "bn") -> SmallResNet:
    """The same network without shortcuts (see :class:`SmallResNet`)."""
    return SmallResNet(in_channels, num_classes, widths=widths, blocks=blocks, norm=norm, residual=False)
