"""Vision datasets: ``image_csv`` (danlu.vision.datasets) and ``leaves`` (danlu.vision.leaves)."""

from danlu.vision import datasets, leaves  # noqa: F401  (registers image_csv and leaves)
