"""A small VGG-style backbone shared by the SSD detector and the FCN segmenter.

Stage ``i`` works at ``1 / 2**i`` of the input resolution: a 2x2 max-pool (from stage 1 on), then
``convs`` 3x3 conv-BN-ReLU blocks (Simonyan & Zisserman, arXiv:1409.1556; batch norm: Ioffe &
Szegedy, arXiv:1502.03167). ``forward`` returns every stage's output, so a detector can take its
multi-scale maps from the last stages (SSD, Liu et al. arXiv:1512.02325) and a segmenter its skip
connections from the middle ones (FCN, Long et al. arXiv:1411.4038).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from danlu.errors import DanluError


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class Backbone(nn.Module):
    """(B, 3, H, W) -> list of stage outputs, stage i: (B, widths[i], H / 2**i, W / 2**i).

    Args:
        widths: channels of each stage (its length is the number of stages).
        in_channels: input channels.
        convs: conv blocks per stage.
    """

    def __init__(self, widths: Sequence[int] = (16, 32, 32, 64, 64, 64), in_channels: int = 3, convs: int = 1) -> None:
        super().__init__()
        if not widths or min(widths) < 1 or convs < 1:
            raise DanluError(f"backbone widths must be positive and convs >= 1, got {list(widths)}, {convs}")
        self.widths = [int(w) for w in widths]
        stages, cin = [], in_channels
        for i, w in enumerate(self.widths):
            layers: list[nn.Module] = [nn.MaxPool2d(2)] if i > 0 else []
            for _ in range(convs):
                layers += _block(cin, w)
                cin = w
            stages.append(nn.Sequential(*layers))
        self.stages = nn.ModuleList(stages)

    def forward(self, x: Tensor) -> list[Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


def to_float(x: Tensor) -> Tensor:
    """uint8 images (B, 3, H, W) -> float in [0, 1]; float input is returned unchanged."""
    return x.float().div_(255) if not x.is_floating_point() else x
