"""``FakeQuantize``: an observer plus fake quantization, with switches for the QAT phases.

Phases: calibrate (observe only), QAT (observe + fake quantize), frozen (fake quantize with
fixed parameters). With ``learnable=True`` the scale is an ``nn.Parameter`` initialised from
the first observed range and then trained by LSQ (per tensor).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from danlu.quant.fake_quant import fake_quantize, lsq_fake_quantize
from danlu.quant.observers import make_observer
from danlu.quant.qparams import QScheme


class FakeQuantize(nn.Module):
    """Observe ``x`` and return its fake-quantized copy; same shape as ``x``.

    Args:
        scheme: integer range and granularity.
        observer: observer name (``minmax``, ``ema``, ``percentile``).
        channels: number of channels for per-channel schemes (sizes the scale buffer).
        learnable: LSQ scale (per tensor only).
    """

    def __init__(self, scheme: QScheme, observer: str = "minmax", *, channels: int = 1,
                 learnable: bool = False) -> None:
        super().__init__()
        self.scheme = scheme
        self.observer = make_observer(observer, scheme)
        shape = (channels,) if scheme.per_channel else (1,)
        self.register_buffer("zero_point", torch.zeros(shape, dtype=torch.int64))
        self.learnable = learnable
        if learnable:
            self.scale = nn.Parameter(torch.ones(1))
        else:
            self.register_buffer("scale", torch.ones(shape))
        self.register_buffer("initialized", torch.tensor(False))
        self.observer_enabled = True
        self.fake_quant_enabled = True

    @property
    def axis(self) -> int | None:
        return self.scheme.axis if self.scheme.per_channel else None

    def qparams(self) -> tuple[Tensor, Tensor]:
        """Current (scale, zero_point), float32 and int64, shape (1,) or (C,)."""
        return self.scale.detach().float(), self.zero_point

    def forward(self, x: Tensor) -> Tensor:
        if self.observer_enabled and not (self.learnable and bool(self.initialized)):
            self.observer(x)
            scale, zp = self.observer.calculate_qparams()
            with torch.no_grad():
                self.scale.copy_(scale.reshape(self.scale.shape))
                self.zero_point.copy_(zp.reshape(self.zero_point.shape))
                self.initialized.fill_(True)
        if not self.fake_quant_enabled:
            return x
        if self.learnable:
            grad_factor = 1.0 / math.sqrt(x.numel() * self.scheme.qmax)  # LSQ's g
            return lsq_fake_quantize(x, self.scale, self.zero_point, self.scheme.qmin, self.scheme.qmax, grad_factor)
        return fake_quantize(x, self.scale.to(x.dtype), self.zero_point, self.scheme.qmin, self.scheme.qmax,
                             self.axis)

    def extra_repr(self) -> str:
        return f"bits={self.scheme.bits}, signed={self.scheme.signed}, per_channel={self.scheme.per_channel}"
