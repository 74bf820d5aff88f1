"""The ``data`` options that change the training split: ``data.subset`` then ``data.augment``.

Each option is implemented by its area (``danlu.select`` scores and keeps a subset;
``danlu.vision.augment`` wraps the split in a torchvision transforms v2 preset) and imported only
when the config uses it. The validation and test splits are never changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.config import TrainConfig


def apply_data_options(splits: Splits, cfg: TrainConfig) -> Splits:
    """``splits`` with the configured subset and augmentation applied to ``splits.train``.

    ``data.subset`` (a dict such as ``{score: el2n, keep: 0.5, mode: hard}``) goes to
    :func:`danlu.select.apply_subset(splits, options, cfg)`; ``data.augment`` (a preset name) to
    :func:`danlu.vision.augment.apply_preset(splits, name, seed)`.
    """
    if cfg.data.subset is not None:
        from danlu.select import apply_subset

        splits = apply_subset(splits, cfg.data.subset, cfg)
    if cfg.data.augment is not None:
        from danlu.vision.augment import apply_preset

        splits = apply_preset(splits, cfg.data.augment, cfg.seed)
    return splits
