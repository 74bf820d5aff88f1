"""Small reusable layers and factories (normalization, ...)."""

from danlu.layers.norm import NORMS, make_norm

__all__ = ["NORMS", "make_norm"]
