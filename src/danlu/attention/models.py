"""A tiny causal language model whose token mixer is a config switch, and its training loop.

The point is comparing attention kinds on quality at equal steps (the att-quality card), so
everything but the mixer is fixed: token embedding + sinusoidal positions, ``depth`` pre-norm
blocks ``x + mixer(LN(x))``, ``x + MLP(LN(x))``, a final LayerNorm and a
linear head. Trained on danlu.data's synthetic sequence tasks (``associative_recall``, ``copy``,
``reverse``), loss only where the target is not -100.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from danlu.attention.base import create_attention
from danlu.attention.positional import SinusoidalPositionalEncoding
from danlu.registry import Registry


@dataclass
class TinyLMConfig:
    """Configuration of :class:`TinyCausalLM`."""

    vocab: int
    """Vocabulary size (token ids 0..vocab-1)."""
    attention: str = "softmax"
    """Registered attention kind used as the token mixer (see ``list_attentions()``)."""
    dim: int = 64
    """Model width."""
    depth: int = 2
    """Number of blocks."""
    heads: int = 4
    """Heads per mixer (GAU ignores it: single head by design)."""
    mlp_ratio: int = 2
    """MLP hidden width = mlp_ratio * dim."""
    dropout: float = 0.0
    """Dropout in mixer outputs."""
    attention_kwargs: dict[str, Any] = field(default_factory=dict)
    """Extra options for the attention kind (e.g. ``{"chunk_size": 16}``)."""


class TinyCausalLM(nn.Module):
    """tokens (B, N) long -> logits (B, N, vocab); the mixer is ``create_attention(cfg.attention, causal=True)``."""

    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Embedding(cfg.vocab, cfg.dim)
        self.pos = SinusoidalPositionalEncoding(cfg.dim)
        self.blocks = nn.ModuleList()
        for _ in range(cfg.depth):
            self.blocks.append(nn.ModuleDict({
                "ln1": nn.LayerNorm(cfg.dim),
                "mix": create_attention(cfg.attention, cfg.dim, heads=cfg.heads, causal=True, dropout=cfg.dropout,
                                        **cfg.attention_kwargs),
                "ln2": nn.LayerNorm(cfg.dim),
                "mlp": nn.Sequential(nn.Linear(cfg.dim, cfg.mlp_ratio * cfg.dim), nn.GELU(),
                                     nn.Linear(cfg.mlp_ratio * cfg.dim, cfg.dim)),
            }))
        self.ln_f = nn.LayerNorm(cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.vocab)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.pos(self.embed(tokens))                                          # (B, N, dim)
        for blk in self.blocks:
            x = x + blk["mix"](blk["ln1"](x))
            x = x + blk["mlp"](blk["ln2"](x))
        return self.head(self.ln_f(x))                                            # (B, N, vocab)


#: Tiny LM kinds: name -> builder(TinyLMConfig) -> model (tokens (B, N) -> logits (B, N, vocab)).
#: ``attention`` is :class:`TinyCausalLM`; ``mamba`` is danlu.ssm's Mamba LM (same vocab, dim, depth;
#: no positional encoding, no MLP: residual Mamba blocks, arXiv:2312.00752), imported on use.
TINY_LMS: Registry[Any] = Registry("tiny LM kind")
TINY_LMS.register("attention")(TinyCausalLM)


@TINY_LMS.register("mamba")
def tiny_mamba_lm(cfg: TinyLMConfig) -> nn.Module:
    """danlu.ssm.lm.TinySSMLM with the Mamba mixer, sized by ``cfg`` (attention fields ignored), seeded from torch's RNG."""
    from danlu.ssm.lm import TinySSMConfig, TinySSMLM

    seed = int(torch.randint(0, 2**31 - 1, ()).item())
    return TinySSMLM(TinySSMConfig(vocab=cfg.vocab, mixer="mamba", dim=cfg.dim, depth=cfg.depth, seed=seed))


@torch.no_grad()
def evaluate_lm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 256) -> float:
    """Token accuracy over positions whose target is not -100."""
    model.eval()
    correct = total = 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size])
        t = y[i:i + batch_size]
        keep = t != -100
        correct += (logits.argmax(-1)[keep] == t[keep]).sum().item()
        total += keep.sum().item()
    return correct / max(total, 1)


def fit_lm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, batch_size: int, lr: float,
           seed: int, device: torch.device | str = "cpu") -> list[float]:
    """Train a token model (tokens (N, T) -> logits (N, T, vocab)) on targets ``y`` (N, T), -100 unlabelled.

    AdamW (weight decay 0.01) with a one-cycle schedule (10% warm-up to ``lr``), gradients clipped
    to norm 1, ``steps`` steps of ``batch_size`` sequences in the seeded order of
    :class:`danlu.train.TensorBatches`, on danlu's training engine (:func:`danlu.train.fit`, the
    ``token_classification`` task; NaN guard off, so a diverging run is recorded as it happened).
    Returns the training loss of every step.
    """
    from torch.utils.data import TensorDataset

    from danlu.train import fit
    from danlu.train.config import LoopConfig
    from danlu.train.tasks.token_classification import TokenClassification

    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    losses: list[float] = []

    def record(event: str, engine: Any) -> None:
        if event == "step":
            losses.append(engine.last.loss.item())

    fit(TokenClassification(), model, TensorDataset(x, y), steps=steps, seed=seed, device=device,
        batch_size=batch_size, optimizer=opt, schedule=sched, loop=LoopConfig(grad_clip=1.0, nan_guard=False),
        callbacks=[record])
    return losses


def train_lm(attention: str, *, task: str = "associative_recall", task_kwargs: dict | None = None,
             steps: int = 300, batch_size: int = 64, lr: float = 3e-3, dim: int = 64, depth: int = 2,
             heads: int = 4, attention_kwargs: dict | None = None, seed: int = 0,
             device: torch.device | str = "cpu", kind: str = "attention") -> dict[str, Any]:
    """Train a :class:`TinyCausalLM` with mixer ``attention`` on a danlu.data sequence task (:func:`fit_lm`).

    ``kind`` picks the model from :data:`TINY_LMS` (``"mamba"``: the tiny Mamba LM; ``attention`` unused).

    Returns ``{"attention", "test_accuracy", "losses" (per step), "params", "seconds"}``.
    """
    import time

    from danlu.data import load_dataset
    from danlu.runtime import seed_everything

    seed_everything(seed)
    splits = load_dataset(task, seed=seed, **(task_kwargs or {}))
    xtr, ytr = splits.train.tensors
    xte, yte = splits.test.tensors
    cfg = TinyLMConfig(vocab=splits.num_classes, attention=attention, dim=dim, depth=depth, heads=heads,
                       attention_kwargs=dict(attention_kwargs or {}))
    model = TINY_LMS.get(kind)(cfg).to(device)
    t0 = time.perf_counter()
    losses = fit_lm(model, xtr, ytr, steps=steps, batch_size=batch_size, lr=lr, seed=seed, device=device)
    return {"attention": attention, "test_accuracy": evaluate_lm(model, xte.to(device), yte.to(device)),
            "losses": losses, "params": sum(p.numel() for p in model.parameters()),
            "seconds": time.perf_counter() - t0}
