"""Named image-augmentation presets over torchvision.transforms.v2, for datasets, configs and tasks.

No transform is re-written here: each preset is a ``v2.Compose`` of torchvision transforms, built
for the image size of the data. Presets (``list_presets()``):

* ``flip``: ``RandomHorizontalFlip(0.5)`` (the left-right flip of d2l's image-augmentation chapter).
* ``crop``: ``RandomCrop(size, padding=size // 8)`` (shift by up to an eighth, zero padding).
* ``flip_crop``: both.
* ``color``: ``ColorJitter(brightness=0.3, contrast=0.3)`` (plus saturation/hue on 3-channel images).
* ``flip_crop_color``: all three.

Three ways in:

* ``danlu train`` configs: ``data: {augment: flip}`` calls :func:`apply_preset` on the training
  split (validation and test are never augmented).
* :class:`AugmentedDataset` wraps any ``(x, y)`` dataset for a ``DataLoader``.
* :class:`AugmentedClassification` is the classification task with the preset applied to each
  training batch, per sample, for :func:`danlu.train.fit` (which takes in-memory tensors).

Random draws come from torch's global generator (seeded by the run; DataLoader workers get seeds
from the loader's own generator), so a run is repeatable from its seed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.train.tasks.classification import Classification

if TYPE_CHECKING:
    from danlu.data import Splits
    from danlu.train.tasks.base import Context, StepOutput

__all__ = ["PRESETS", "AugmentedClassification", "AugmentedDataset", "apply_preset", "create_preset",
           "list_presets"]

#: name -> ``fn(input_shape (C, H, W)) -> transform`` (a torchvision v2 transform on (C, H, W) tensors).
PRESETS: Registry[Callable[[tuple[int, ...]], Callable[[Tensor], Tensor]]] = Registry("augmentation preset")


def _v2() -> Any:
    from torchvision.transforms import v2

    return v2


def _flip(shape: tuple[int, ...]) -> list[Any]:
    return [_v2().RandomHorizontalFlip(0.5)]


def _crop(shape: tuple[int, ...]) -> list[Any]:
    h, w = shape[-2:]
    return [_v2().RandomCrop((h, w), padding=max(1, min(h, w) // 8))]


def _color(shape: tuple[int, ...]) -> list[Any]:
    extra = {"saturation": 0.3, "hue": 0.05} if shape[0] == 3 else {}
    return [_v2().ColorJitter(brightness=0.3, contrast=0.3, **extra)]


def _register(name: str, *parts: Callable[[tuple[int, ...]], list[Any]]) -> None:
    PRESETS.add(name, lambda shape: _v2().Compose([t for p in parts for t in p(shape)]))


_register("flip", _flip)
_register("crop", _crop)
_register("flip_crop", _flip, _crop)
_register("color", _color)
_register("flip_crop_color", _flip, _crop, _color)


def list_presets() -> list[str]:
    """Registered preset names."""
    return PRESETS.names()


def create_preset(name: str, input_shape: tuple[int, ...]) -> Callable[[Tensor], Tensor]:
    """The preset ``name`` for images of ``input_shape`` (C, H, W); unknown names list the valid ones."""
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] not in (1, 3):
        raise DanluError(f"augmentation preset {name!r} needs images (C, H, W) with C = 1 or 3, "
                         f"got input shape {shape}")
    return PRESETS.get(name)(shape)


class AugmentedDataset(Dataset):
    """``(transform(x), y)`` for each item ``(x, y)`` of ``base``; x (C, H, W) float tensors."""

    def __init__(self, base: Dataset, transform: Callable[[Tensor], Tensor], name: str = "") -> None:
        self.base, self.transform, self.name = base, transform, name

    def __len__(self) -> int:
        return len(self.base)  # type: ignore[arg-type]

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        x, *rest = self.base[i]
        return (self.transform(x), *rest)

    def __repr__(self) -> str:
        return f"AugmentedDataset({self.name or self.transform!r}, n={len(self)})"


def apply_preset(splits: Splits, name: str, seed: int) -> Splits:
    """``splits`` with its training split wrapped in :class:`AugmentedDataset` with preset ``name``.

    Validation and test are unchanged. ``seed`` is accepted for the ``data.augment`` hook; the
    draws use torch's generator, which the run seeds with it.
    """
    import dataclasses

    transform = create_preset(name, tuple(splits.input_shape))
    info = {**splits.info, "augment": name}
    return dataclasses.replace(splits, train=AugmentedDataset(splits.train, transform, name), info=info)


def augment_batch(transform: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Apply ``transform`` to each image of x (B, C, H, W) separately (own random draw each)."""
    return torch.stack([transform(xi) for xi in x])


class AugmentedClassification(Classification):
    """The classification task with ``transform`` applied per sample to each training batch.

    For :func:`danlu.train.fit`, which takes in-memory tensors: ``training_step`` sees
    ``augment_batch(transform, x)``; evaluation sees the images unchanged. Other keyword
    arguments go to :class:`danlu.train.tasks.classification.Classification`.
    """

    def __init__(self, transform: Callable[[Tensor], Tensor], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.transform = transform

    def training_step(self, model: nn.Module, batch: Any, ctx: Context) -> StepOutput:
        x, y = batch
        return super().training_step(model, (augment_batch(self.transform, x), y), ctx)
