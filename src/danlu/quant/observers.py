"""Range observers: watch tensors during calibration/QAT and yield (scale, zero point).

- ``minmax``: running min and max of everything seen (torch's ``MinMaxObserver``).
- ``current``: min and max of the latest tensor (the paper's choice for weights).
- ``ema``: exponential moving average of each batch's min and max, the paper's choice for
  activations during QAT (Jacob et al. 2018, sec. 3.1; torch's ``MovingAverageMinMaxObserver``,
  ``min <- min + c (batch_min - min)`` with ``c = averaging_constant``, first batch taken as is).
- ``percentile``: min/max replaced by the ``p`` and ``100 - p`` percentiles of each batch (EMA
  across batches), which ignores rare outliers.

Per-channel schemes reduce over every axis except ``scheme.axis``: min/max have shape (C,).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.quant.qparams import QScheme, check_range, qparams_from_range
from danlu.registry import Registry

OBSERVERS: Registry = Registry("observer")


class Observer(nn.Module):
    """Base: ``forward(x)`` records the range of ``x`` and returns ``x`` unchanged."""

    def __init__(self, scheme: QScheme) -> None:
        super().__init__()
        self.scheme = scheme
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    def _batch_range(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.detach().float()
        if not self.scheme.per_channel:
            return x.min(), x.max()
        flat = x.transpose(0, self.scheme.axis).reshape(x.shape[self.scheme.axis], -1)  # (C, rest)
        return flat.min(dim=1).values, flat.max(dim=1).values

    def _update(self, lo: Tensor, hi: Tensor) -> None:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        if x.numel() == 0:
            return x
        lo, hi = self._batch_range(x)
        check_range(lo, hi, name=f"{type(self).__name__} input")
        self._update(lo, hi)
        return x

    @property
    def seen(self) -> bool:
        """Whether any data has been observed."""
        return bool(torch.isfinite(self.min_val).all())

    def calculate_qparams(self) -> tuple[Tensor, Tensor]:
        """(scale, zero_point), shapes () per tensor or (C,) per channel."""
        if not self.seen:
            raise DanluError(f"{type(self).__name__}: no data observed yet; run calibration batches first")
        return qparams_from_range(self.min_val, self.max_val, self.scheme)

    def _set(self, lo: Tensor, hi: Tensor) -> None:
        self.min_val = lo.clone()
        self.max_val = hi.clone()


@OBSERVERS.register("minmax")
class MinMaxObserver(Observer):
    """Running min/max over all observed batches."""

    def _update(self, lo: Tensor, hi: Tensor) -> None:
        if not self.seen:
            self._set(lo, hi)
        else:
            self._set(torch.minimum(self.min_val, lo), torch.maximum(self.max_val, hi))


@OBSERVERS.register("current")
class CurrentMinMaxObserver(Observer):
    """Range of the latest tensor only: the paper's weight ranges (``a = min w``, ``b = max w`` each step)."""

    def _update(self, lo: Tensor, hi: Tensor) -> None:
        self._set(lo, hi)


@OBSERVERS.register("ema")
class EMAMinMaxObserver(Observer):
    """Exponential moving average of batch min/max (``averaging_constant`` c in (0, 1])."""

    def __init__(self, scheme: QScheme, averaging_constant: float = 0.01) -> None:
        super().__init__(scheme)
        if not 0.0 < averaging_constant <= 1.0:
            raise DanluError(f"averaging_constant must be in (0, 1], got {averaging_constant}")
        self.c = float(averaging_constant)

    def _update(self, lo: Tensor, hi: Tensor) -> None:
        if not self.seen:
            self._set(lo, hi)
        else:
            self._set(self.min_val + self.c * (lo - self.min_val), self.max_val + self.c * (hi - self.max_val))


@OBSERVERS.register("percentile")
class PercentileObserver(EMAMinMaxObserver):
    """Batch range = (p, 100 - p) percentiles (``torch.quantile``, linear interpolation), then EMA."""

    def __init__(self, scheme: QScheme, percentile: float = 0.1, averaging_constant: float = 0.01) -> None:
        super().__init__(scheme, averaging_constant)
        if not 0.0 <= percentile < 50.0:
            raise DanluError(f"percentile must be in [0, 50), got {percentile}")
        self.p = float(percentile)

    def _batch_range(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.detach().float()
        flat = (x.transpose(0, self.scheme.axis).reshape(x.shape[self.scheme.axis], -1) if self.scheme.per_channel
                else x.reshape(1, -1))
        q = torch.quantile(flat, torch.tensor([self.p / 100, 1 - self.p / 100]), dim=1)  # (2, C)
        lo, hi = q[0], q[1]
        return (lo, hi) if self.scheme.per_channel else (lo[0], hi[0])


def make_observer(name: str, scheme: QScheme, **kwargs: float) -> Observer:
    """An observer from the registry by name (``minmax``, ``ema``, ``percentile``)."""
    return OBSERVERS.get(name)(scheme, **kwargs)
