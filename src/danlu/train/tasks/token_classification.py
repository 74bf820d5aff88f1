"""Token classification: logits (B, T, C) = model(x), one class label per position, -100 marks "no label".

A causal language model trained on next-token or copy targets is this task: every position whose
target is not -100 is one classification example. The loss and the metrics see the labelled
positions only, flattened to (K, C) logits and (K,) labels, so any registered loss and metric of
the classification task applies; with the default loss this is
``F.cross_entropy(logits.flatten(0, 1), y.flatten(), ignore_index=-100)`` (a mean over labelled
tokens, as in GPT-style LM training; Radford et al. 2018). Evaluation weighs every labelled token
equally across batches (summed totals divided at the end), e.g. token accuracy.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from danlu.train.tasks import TASKS
from danlu.train.tasks.classification import Classification

IGNORE = -100


def labelled(logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """The labelled positions: logits (B, T, C), y (B, T) -> (K, C), (K,) where y != -100."""
    if logits.dim() != 3 or y.shape != logits.shape[:2]:
        raise ValueError(f"token_classification: expected logits (B, T, C) and targets (B, T), got "
                         f"{tuple(logits.shape)} and {tuple(y.shape)}")
    keep = y != IGNORE  # (B, T)
    return logits[keep], y[keep]


@TASKS.register("token_classification")
class TokenClassification(Classification):
    """Per-token classification (language models on sequence tasks); the model maps (B, T) -> (B, T, C).

    Args:
        loss_fn: ``fn(logits (K, C), target (K,)) -> ()`` on the labelled positions (default: cross entropy).
        metrics: names in ``danlu.train.metrics.METRICS``, computed on labelled positions.

    Config sections read: those of ``classification``. No ``task.args``.
    """

    name: ClassVar[str] = "token_classification"
    # training_step, evaluate and predict are classification's; only ``select`` differs.

    def select(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """The labelled positions: logits (B, T, C), y (B, T) -> (K, C), (K,)."""
        return labelled(logits, y)
