"""Vision Transformer whose token mixer is any danlu attention kind.

Dosovitskiy et al., "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
arXiv:2010.11929. An image ``(B, C, H, W)`` is cut into ``P x P`` patches by a strided conv
(``patch_embed.proj``), a class token is prepended (or not: mean pooling), positions are added
(learned, or fixed 2-D sinusoidal: half the channels encode the row, half the column), then
``depth`` pre-norm blocks ``x + attn(LN(x))``, ``x + MLP(LN(x))`` and a head on the class token or
on the mean of the patch tokens.

The mixer is ``danlu.attention.create_attention(attention, dim, heads, **attention_kwargs)``
(``softmax``, ``linear``, ``performer``, ...). Parameter names follow timm's
``VisionTransformer``, so with ``attention="softmax"`` and learned positions,
``vit.load_state_dict(timm_vit.state_dict())`` works and the two compute the same function
(tested to 1e-5, outputs and gradients, with ``pooling="token"`` <-> ``global_pool="token"`` and
``pooling="mean"`` <-> ``class_token=False, global_pool="avg"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from danlu.errors import DanluError

POOLINGS = ("token", "mean")
POSITIONS = ("learned", "sincos")


@dataclass
class ViTConfig:
    """Configuration of :class:`VisionTransformer`."""

    image_size: int = 28
    """Side of the (square) input image; learned positions fix it, sincos adapts to any multiple of patch_size."""
    patch_size: int = 7
    """Side of a square patch (image_size must be a multiple)."""
    in_channels: int = 1
    """Image channels C."""
    num_classes: int = 10
    """Classes of the linear head (0: no head, the pooled features are returned)."""
    dim: int = 64
    """Token width."""
    depth: int = 4
    """Number of transformer blocks."""
    heads: int = 4
    """Attention heads (dim must be divisible by heads)."""
    mlp_ratio: float = 2.0
    """MLP hidden width = mlp_ratio * dim."""
    pooling: str = "token"
    """``token``: head on a prepended class token; ``mean``: no class token, head on the mean patch token."""
    pos: str = "learned"
    """``learned`` position table or fixed 2-D ``sincos``."""
    attention: str = "softmax"
    """Registered danlu attention kind (``danlu.attention.list_attentions()``)."""
    attention_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra options of the attention kind (e.g. ``{"num_features": 32}`` for performer)."""
    dropout: float = 0.0
    """Dropout on attention and MLP outputs."""

    def check(self) -> None:
        for name in ("image_size", "patch_size", "in_channels", "dim", "depth", "heads"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise DanluError(f"ViT {name} must be a positive integer, got {v!r}")
        if self.image_size % self.patch_size:
            raise DanluError(f"ViT image_size ({self.image_size}) must be a multiple of patch_size ({self.patch_size})")
        if self.dim % self.heads:
            raise DanluError(f"ViT dim ({self.dim}) must be divisible by heads ({self.heads})")
        if self.pooling not in POOLINGS:
            raise DanluError(f"ViT pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if self.pos not in POSITIONS:
            raise DanluError(f"ViT pos must be one of {POSITIONS}, got {self.pos!r}")
        if self.pos == "sincos" and self.dim % 4:
            raise DanluError(f"ViT sincos positions need dim divisible by 4, got {self.dim}")
        if self.num_classes < 0 or self.mlp_ratio <= 0:
            raise DanluError(f"ViT num_classes must be >= 0 and mlp_ratio > 0, got {self.num_classes}, "
                             f"{self.mlp_ratio}")


def sincos_2d(rows: int, cols: int, dim: int) -> Tensor:
    """Fixed 2-D positions (rows*cols, dim): 1-D sinusoids of the row in the first half, of the column in the second.

    Each half is :func:`danlu.attention.sinusoidal_encoding` (Vaswani et al., arXiv:1706.03762)
    of width ``dim/2``; patches are numbered row-major, as the patch embedding flattens them.
    """
    from danlu.attention.positional import sinusoidal_encoding

    if dim % 4:
        raise DanluError(f"sincos_2d: dim must be divisible by 4, got {dim}")
    pr = sinusoidal_encoding(rows, dim // 2)  # (rows, dim/2)
    pc = sinusoidal_encoding(cols, dim // 2)  # (cols, dim/2)
    return torch.cat([pr[:, None].expand(rows, cols, -1), pc[None].expand(rows, cols, -1)], -1).reshape(-1, dim)


class PatchEmbed(nn.Module):
    """``(B, C, H, W) -> (B, (H/P)*(W/P), dim)`` by a P x P conv of stride P (timm's ``PatchEmbed``)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, dim, patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)  # (B, N, dim)


class Mlp(nn.Module):
    """``fc2(drop(GELU(fc1(x))))``: (B, N, dim) -> (B, N, dim)."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class Block(nn.Module):
    """Pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``; (B, N, dim) -> same."""

    def __init__(self, cfg: ViTConfig) -> None:
        from danlu.attention.base import create_attention

        super().__init__()
        self.norm1 = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.attn = create_attention(cfg.attention, cfg.dim, heads=cfg.heads, dropout=cfg.dropout,
                                     **cfg.attention_kwargs)
        self.norm2 = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.mlp = Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio), cfg.dropout)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """ViT classifier: images (B, C, H, W) -> logits (B, num_classes) (or features (B, dim) if num_classes=0)."""

    def __init__(self, cfg: ViTConfig | None = None, **kwargs: Any) -> None:
        super().__init__()
        cfg = cfg if cfg is not None else ViTConfig(**kwargs)
        cfg.check()
        self.cfg = cfg
        grid = cfg.image_size // cfg.patch_size
        self.patch_embed = PatchEmbed(cfg.in_channels, cfg.dim, cfg.patch_size)
        self.num_prefix = 1 if cfg.pooling == "token" else 0
        if self.num_prefix:
            self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
            nn.init.trunc_normal_(self.cls_token, std=0.02)
        if cfg.pos == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, self.num_prefix + grid * grid, cfg.dim))
            nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.blocks = nn.Sequential(*(Block(cfg) for _ in range(cfg.depth)))
        # timm: final LayerNorm before token pooling ("norm"), or after mean pooling ("fc_norm")
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6) if cfg.pooling == "token" else nn.Identity()
        self.fc_norm = nn.LayerNorm(cfg.dim, eps=1e-6) if cfg.pooling == "mean" else nn.Identity()
        self.head = nn.Linear(cfg.dim, cfg.num_classes) if cfg.num_classes > 0 else nn.Identity()
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def _positions(self, rows: int, cols: int, x: Tensor) -> Tensor:
        if self.cfg.pos == "learned":
            n = self.pos_embed.shape[1] - self.num_prefix
            if rows * cols != n:
                side = self.cfg.image_size
                raise DanluError(f"ViT with learned positions takes {side}x{side} images ({n} patches), got a "
                                 f"{rows * self.cfg.patch_size}x{cols * self.cfg.patch_size} input")
            return self.pos_embed
        pe = sincos_2d(rows, cols, self.cfg.dim).to(x)  # (N, dim)
        if self.num_prefix:
            pe = torch.cat([pe.new_zeros(self.num_prefix, self.cfg.dim), pe])
        return pe[None]

    def tokens(self, x: Tensor) -> Tensor:
        """Images (B, C, H, W) -> tokens after the last block (B, prefix + N, dim)."""
        c, p = self.cfg.in_channels, self.cfg.patch_size
        if x.dim() != 4 or x.shape[1] != c:
            raise DanluError(f"ViT expects images (B, {c}, H, W), got {tuple(x.shape)}")
        if x.shape[-1] % p or x.shape[-2] % p:
            raise DanluError(f"ViT input of size {tuple(x.shape[-2:])} is not a multiple of patch_size {p}")
        rows, cols = x.shape[-2] // p, x.shape[-1] // p
        t = self.patch_embed(x)  # (B, N, dim)
        if self.num_prefix:
            t = torch.cat([self.cls_token.expand(len(t), -1, -1), t], 1)  # (B, 1 + N, dim)
        t = t + self._positions(rows, cols, t)
        return self.blocks(t)

    def forward_features(self, x: Tensor) -> Tensor:
        """Pooled features (B, dim): the normed class token, or the normed mean of the patch tokens."""
        t = self.norm(self.tokens(x))
        pooled = t[:, 0] if self.num_prefix else t.mean(1)  # (B, dim)
        return self.fc_norm(pooled)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x))  # (B, num_classes)
