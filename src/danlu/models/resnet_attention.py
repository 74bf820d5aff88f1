"""SE and CBAM variants of danlu's small ResNet: ``se_resnet_small`` and ``cbam_resnet_small``.

Hu et al., arXiv:1709.01507 (Fig. 3, SE-ResNet module) and Woo et al., arXiv:1807.06521 (Fig. 3,
CBAM in a ResBlock): the attention block rescales the residual branch after its last norm and
before the shortcut is added, ``relu(attn(bn2(conv2(...))) + shortcut(x))``. The network is
:class:`danlu.models.resnet_small.SmallResNet` unchanged otherwise; each block's ``bn2`` becomes
``NormThenAttention(bn2, attn)``, so a plain ResNet's weights map one to one (``bn2`` ->
``bn2.norm``).

    >>> import torch
    >>> from danlu.models import create_model
    >>> m = create_model("cbam_resnet_small", in_channels=1, num_classes=10, widths=[16, 32], blocks=1)
    >>> m(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from danlu.models import MODELS
from danlu.models.resnet_small import SmallResNet


class NormThenAttention(nn.Module):
    """``attn(norm(x))``: the end of a residual branch with channel/spatial attention."""

    def __init__(self, norm: nn.Module, attn: nn.Module) -> None:
        super().__init__()
        self.norm, self.attn = norm, attn

    def forward(self, x: Tensor) -> Tensor:
        return self.attn(self.norm(x))


def attention_resnet(kind: str, in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32),
                     blocks: int = 2, norm: str = "bn", reduction: int = 4) -> SmallResNet:
    """A :class:`SmallResNet` with ``danlu.vision.attention_blocks.CHANNEL_ATTENTIONS[kind]`` in every block."""
    from danlu.vision.attention_blocks import CHANNEL_ATTENTIONS

    make = CHANNEL_ATTENTIONS.get(kind)
    model = SmallResNet(in_channels, num_classes, widths=widths, blocks=blocks, norm=norm, residual=True)
    for block in model.blocks:
        block.bn2 = NormThenAttention(block.bn2, make(block.conv2.out_channels, reduction))
    return model


@MODELS.register("se_resnet_small")
def se_resnet_small(in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32),
                    blocks: int = 2, norm: str = "bn", reduction: int = 4) -> SmallResNet:
    """Small ResNet with a Squeeze-and-Excitation block in every residual branch."""
    return attention_resnet("se", in_channels, num_classes, widths=widths, blocks=blocks, norm=norm,
                            reduction=reduction)


@MODELS.register("cbam_resnet_small")
def cbam_resnet_small(in_channels: int = 1, num_classes: int = 10, *, widths: Sequence[int] = (16, 32),
                      blocks: int = 2, norm: str = "bn", reduction: int = 4) -> SmallResNet:
    """Small ResNet with a CBAM block in every residual branch."""
    return attention_resnet("cbam", in_channels, num_classes, widths=widths, blocks=blocks, norm=norm,
                            reduction=reduction)
