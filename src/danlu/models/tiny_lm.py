"""``tiny_lm``: the tiny causal language models of :mod:`danlu.attention.models` as a registered model,
so ``danlu train`` can train one with the ``token_classification`` task (logits at every position).

    danlu train configs/copy_tiny_lm.yaml                       # softmax attention on the copy task
    danlu train configs/copy_tiny_lm.yaml model.args.kind=mamba # the tiny Mamba LM, same data
"""

from __future__ import annotations

from typing import Any

from torch import nn

from danlu.models import MODELS


@MODELS.register("tiny_lm")
def tiny_lm(num_classes: int, *, kind: str = "attention", attention: str = "softmax", dim: int = 64,
            depth: int = 2, heads: int = 4, mlp_ratio: int = 2, dropout: float = 0.0,
            attention_kwargs: dict[str, Any] | None = None) -> nn.Module:
    """Tokens (B, N) long -> logits (B, N, num_classes): a :data:`~danlu.attention.models.TINY_LMS` kind
    (``attention``: pre-norm blocks with the ``attention`` mixer; ``mamba``: residual Mamba blocks).

    ``num_classes`` is the vocabulary (the token datasets' ``num_classes``, filled in by ``danlu train``).
    """
    from danlu.attention.models import TINY_LMS, TinyLMConfig

    cfg = TinyLMConfig(vocab=num_classes, attention=attention, dim=dim, depth=depth, heads=heads,
                       mlp_ratio=mlp_ratio, dropout=dropout, attention_kwargs=dict(attention_kwargs or {}))
    return TINY_LMS.get(kind)(cfg)
