"""Datasets of the prior-knowledge area: ``decoy_mnist`` and ``coord_regression``."""

import danlu.priors.coordconv  # noqa: F401
import danlu.priors.decoy  # noqa: F401
