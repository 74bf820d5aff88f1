"""The score registry: name -> :class:`ScoreSpec` (the function, which end is "hard", defaults).

Every score has the signature ``fn(model_factory, dataset, *, epochs, seeds, batch_size, device,
optimizer=None, progress=True) -> Tensor (N,)``. ``harder`` says which end of the score marks the
hard examples: ``"high"`` for EL2N, GraNd and forgetting counts, ``"low"`` for the margin (AUM), so
``data.subset: {mode: hard}`` keeps low-AUM examples.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from torch import Tensor

from danlu.registry import Registry


@dataclass(frozen=True)
class ScoreSpec:
    """A registered data-selection score.

    Attributes:
        fn: the score function (signature in the module docstring).
        harder: ``"high"``: a larger score is a harder example; ``"low"``: a smaller one is.
        epochs: default training epochs before / during scoring.
        paper: the reference.
    """

    fn: Callable[..., Tensor]
    harder: Literal["high", "low"]
    epochs: int
    paper: str

    def hardness(self, scores: Tensor) -> Tensor:
        """``scores`` oriented so that larger means harder (negated for ``harder="low"``)."""
        return scores if self.harder == "high" else -scores


SCORES: Registry[ScoreSpec] = Registry("data-selection score", loader="danlu.select:_load_scores")


def register_score(name: str, *, harder: Literal["high", "low"], epochs: int,
                   paper: str) -> Callable[[Callable[..., Tensor]], Callable[..., Tensor]]:
    """Register a score function under ``name`` (see :class:`ScoreSpec`)."""

    def deco(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
        SCORES.add(name, ScoreSpec(fn=fn, harder=harder, epochs=epochs, paper=paper))
        return fn

    return deco
