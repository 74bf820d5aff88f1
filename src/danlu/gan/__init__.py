"""Wasserstein GANs and the measurements around them.

- :mod:`danlu.gan.penalty`: the WGAN-GP gradient penalty (Gulrajani et al. 2017, arXiv:1704.00028).
- :mod:`danlu.gan.mixtures`: the 2-D toy targets (ring of 8, grid of 25 Gaussians).
- :mod:`danlu.gan.metrics`: modes covered and the fraction of high-quality samples (Srivastava et al.
  2017, VEEGAN, arXiv:1705.07761), the critic's W1 estimate and the exact W1 between two sample sets
  (POT's ``ot.emd2``, imported when called).

Training goes through the ``gan`` task (:mod:`danlu.train.tasks.gan`): ``objective: nonsaturating``
(the standard GAN), ``wasserstein`` (weight clipping) or ``wasserstein-gp`` (gradient penalty, λ = 10).
"""

from __future__ import annotations

from danlu.gan.metrics import critic_w1, exact_w1, mode_stats
from danlu.gan.mixtures import grid_centers, mixture, ring_centers
from danlu.gan.penalty import gradient_penalty, interpolate

__all__ = ["critic_w1", "exact_w1", "gradient_penalty", "grid_centers", "interpolate", "mixture", "mode_stats",
           "ring_centers"]
