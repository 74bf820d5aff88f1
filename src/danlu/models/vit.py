"""``vit`` in the model registry: :class:`danlu.vision.vit.VisionTransformer` (arXiv:2010.11929).

    >>> import torch
    >>> from danlu.models import create_model
    >>> m = create_model("vit", in_channels=1, num_classes=10, image_size=28, patch_size=7, dim=32, depth=2,
    ...                  heads=4, attention="linear")
    >>> m(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 10])
"""

from __future__ import annotations

from typing import Any

from danlu.models import MODELS


@MODELS.register("vit")
def vit(in_channels: int = 1, num_classes: int = 10, image_size: int = 28, *, patch_size: int = 7, dim: int = 64,
        depth: int = 4, heads: int = 4, mlp_ratio: float = 2.0, pooling: str = "token", pos: str = "learned",
        attention: str = "softmax", attention_kwargs: dict[str, Any] | None = None, dropout: float = 0.0) -> Any:
    """A Vision Transformer with any danlu attention kind (see :class:`danlu.vision.vit.ViTConfig`)."""
    from danlu.vision.vit import VisionTransformer, ViTConfig

    return VisionTransformer(ViTConfig(image_size=image_size, patch_size=patch_size, in_channels=in_channels,
                                       num_classes=num_classes, dim=dim, depth=depth, heads=heads,
                                       mlp_ratio=mlp_ratio, pooling=pooling, pos=pos, attention=attention,
                                       attention_kwargs=dict(attention_kwargs or {}), dropout=dropout))
