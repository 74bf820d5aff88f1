"""A tiny SSM language model: embedding, ``depth`` pre-norm residual SSM blocks, a tied head.

The Mamba LM of Gu & Dao (arXiv:2312.00752, §4: blocks ``x + Mixer(Norm(x))``, no attention, no
positional encoding, no MLP). The mixer is a registry entry (:data:`SSM_MIXERS`): ``mamba``
(selective, input-dependent Δ, B, C) or ``s4d`` (linear time-invariant S4D convolution, arXiv:2206.11893),
so the selection claim compares two models that differ only in the mixer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.ssm.mamba import Mamba, MambaCache
from danlu.ssm.s4d import S4D

SSM_MIXERS: Registry[Callable[..., nn.Module]] = Registry("SSM mixer")


@SSM_MIXERS.register("mamba")
def _mamba(dim: int, d_state: int, seed: int, **kw: Any) -> nn.Module:
    return Mamba(dim, d_state=d_state, seed=seed, **kw)


@SSM_MIXERS.register("s4d")
def _s4d(dim: int, d_state: int, seed: int, **kw: Any) -> nn.Module:
    return S4D(dim, d_state=d_state, seed=seed, **kw)


@dataclass
class TinySSMConfig:
    """Configuration of :class:`TinySSMLM`."""

    vocab: int
    """Vocabulary size."""
    mixer: str = "mamba"
    """A name in :data:`SSM_MIXERS` (``mamba`` or ``s4d``)."""
    dim: int = 64
    """Model width."""
    depth: int = 2
    """Number of residual blocks."""
    d_state: int = 16
    """SSM state size N per channel."""
    mixer_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra options for the mixer (e.g. ``{"expand": 2}`` for mamba, ``{"init": "lin"}`` for s4d)."""
    seed: int = 0
    """Parameter initialisation seed."""


class TinySSMLM(nn.Module):
    """tokens (B, L) long -> logits (B, L, vocab); :meth:`step` decodes one token (mamba mixer)."""

    def __init__(self, cfg: TinySSMConfig) -> None:
        super().__init__()
        if cfg.vocab < 1 or cfg.dim < 1 or cfg.depth < 1:
            raise DanluError(f"TinySSMLM: vocab, dim and depth must be positive, got {cfg}")
        self.cfg = cfg
        with torch.random.fork_rng():                                               # seeded, global RNG untouched
            torch.manual_seed(cfg.seed)
            self.embed = nn.Embedding(cfg.vocab, cfg.dim)
            self.norms = nn.ModuleList([nn.LayerNorm(cfg.dim) for _ in range(cfg.depth)])
            self.mixers = nn.ModuleList([SSM_MIXERS.get(cfg.mixer)(cfg.dim, cfg.d_state, cfg.seed + i,
                                                                   **cfg.mixer_kwargs) for i in range(cfg.depth)])
            self.norm_f = nn.LayerNorm(cfg.dim)
            self.head = nn.Linear(cfg.dim, cfg.vocab, bias=False)
        self.head.weight = self.embed.weight                                        # tied

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)                                                      # (B, L, dim)
        for norm, mix in zip(self.norms, self.mixers):
            x = x + mix(norm(x))
        return self.head(self.norm_f(x))                                            # (B, L, vocab)

    def step(self, token: torch.Tensor, caches: list[MambaCache] | None = None) -> tuple[torch.Tensor, list[MambaCache]]:
        """One token (B,) -> (logits (B, vocab), caches); ``caches=None`` starts a sequence. Mamba mixer only."""
        if self.cfg.mixer != "mamba":
            raise DanluError(f"TinySSMLM.step: recurrent decoding is implemented for the mamba mixer, "
                             f"not {self.cfg.mixer!r}")
        x = self.embed(token)                                                       # (B, dim)
        caches = caches or [m.empty_cache(x.shape[0], x.device) for m in self.mixers]
        new = []
        for norm, mix, cache in zip(self.norms, self.mixers, caches):
            out, c = mix.step(norm(x), cache)
            x = x + out
            new.append(c)
        return self.head(self.norm_f(x)), new
