"""FCN: a fully convolutional segmenter with skip fusion (Long, Shelhamer & Darrell, "Fully Convolutional
Networks for Semantic Segmentation", arXiv:1411.4038).

A :class:`~danlu.detection.backbone.Backbone` of ``len(widths)`` stages reduces the image by
``2**(len(widths) - 1)``; a 1x1 convolution scores each class on the coarsest map; then, as in
FCN-16s/8s, the scores are upsampled x2 by a transposed convolution initialised to bilinear
interpolation (:class:`danlu.vision.upsample.BilinearConvTranspose2d`, learnable) and added to a
1x1 score of the next finer stage, ``skips`` times; a last bilinear-initialised transposed
convolution brings the scores to the input resolution. ``skips=0`` is FCN-32s's single upsampling.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from danlu.detection.backbone import Backbone, to_float
from danlu.errors import DanluError


class FCN(nn.Module):
    """(B, 3, H, W) -> class scores (B, num_classes, H, W); H, W divisible by ``2**(len(widths) - 1)``.

    Args:
        num_classes: classes including the background (class 0).
        widths: backbone stage widths (stage i at 1/2**i resolution).
        skips: finer stages fused into the coarse scores (0 .. len(widths) - 2).
    """

    def __init__(self, num_classes: int = 5, widths: Sequence[int] = (16, 32, 32, 64), skips: int = 2) -> None:
        super().__init__()
        from danlu.vision.upsample import BilinearConvTranspose2d

        n = len(widths)
        if num_classes < 2:
            raise DanluError(f"FCN num_classes counts the background and must be >= 2, got {num_classes}")
        if n < 2 or not 0 <= skips <= n - 2:
            raise DanluError(f"FCN needs >= 2 backbone stages and 0 <= skips <= {max(n - 2, 0)}, got {len(widths)} "
                             f"stages, skips={skips}")
        self.num_classes, self.skips, self.stride = num_classes, skips, 2 ** (n - 1)
        self.backbone = Backbone(widths)
        levels = list(range(n - 1, n - 2 - skips, -1))  # coarsest first: n-1, n-2, ...
        self.levels = levels
        self.score = nn.ModuleList(nn.Conv2d(self.backbone.widths[i], num_classes, 1) for i in levels)
        self.up2 = nn.ModuleList(BilinearConvTranspose2d(num_classes, 2) for _ in range(skips))
        self.final = BilinearConvTranspose2d(num_classes, 2 ** levels[-1]) if levels[-1] > 0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        H, W = x.shape[-2:]
        if H % self.stride or W % self.stride:
            raise DanluError(f"FCN input {H}x{W} must be divisible by {self.stride} (2**(stages - 1))")
        feats = self.backbone(to_float(x))
        s = self.score[0](feats[self.levels[0]])  # (B, C, H / 2**(n-1), W / 2**(n-1))
        for up, score, lvl in zip(self.up2, self.score[1:], self.levels[1:], strict=True):
            s = up(s) + score(feats[lvl])  # skip fusion at 1 / 2**lvl
        return self.final(s)  # (B, C, H, W)
