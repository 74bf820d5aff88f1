"""Prior knowledge in a model: input-gradient annotations (RRR) and coordinate channels (CoordConv).

- :mod:`danlu.priors.rrr`: "Right for the Right Reasons" (Ross et al. 2017, arXiv:1703.03717): penalise
  the input gradient of the log-probabilities where an annotation mask says the model must not look;
  :class:`~danlu.priors.rrr.RRRTask` trains with it through the engine.
- :mod:`danlu.priors.decoy`: decoy MNIST (Ross et al. section 4.1): a corner patch whose shade encodes
  the label in training and is random at test (dataset ``decoy_mnist``).
- :mod:`danlu.priors.coordconv`: ``AddCoords`` / ``CoordConv2d`` (Liu et al. 2018, arXiv:1807.03247)
  and their supervised coordinate-regression task (dataset ``coord_regression``).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public names -> the submodule defining them (imported on first use: the dataset registry imports
#: the dataset modules without pulling in the training code that rrr needs)
_NAMES = {"AddCoords": "coordconv", "CoordConv2d": "coordconv", "coord_regression": "coordconv",
          "decoy_mnist": "decoy", "RRRTask": "rrr", "input_gradient_penalty": "rrr"}

__all__ = sorted(_NAMES)


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        return getattr(importlib.import_module(f"danlu.priors.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'danlu.priors' has no attribute {name!r}")
