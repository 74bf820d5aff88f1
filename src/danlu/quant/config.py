"""QAT/PTQ configuration: bit widths, observers, granularity, BN freezing, LSQ."""

from __future__ import annotations

from dataclasses import dataclass

from danlu.errors import DanluError
from danlu.quant.qparams import QScheme, activation_scheme, weight_scheme


@dataclass(frozen=True)
class QConfig:
    """How ``prepare_qat``/``prepare_ptq`` quantize a model.

    Args:
        weight_bits: weight integer width (8 = int8 in [-127, 127]; 4 = int4 in [-7, 7]).
        act_bits: activation integer width (8 = uint8).
        per_channel: one weight scale per output channel (else one per tensor).
        act_observer: activation observer name (``ema`` as in the paper, ``minmax``, ``percentile``).
        weight_observer: weight observer name (``current``: the current weights' range each step).
        freeze_bn_after: QAT steps after which BN folds with running instead of batch statistics
            (the paper's scheme); None never freezes during training.
        lsq: learn activation and weight scales (LSQ, per tensor) instead of observing them.
    """

    weight_bits: int = 8
    act_bits: int = 8
    per_channel: bool = True
    act_observer: str = "ema"
    weight_observer: str = "current"
    freeze_bn_after: int | None = None
    lsq: bool = False

    def __post_init__(self) -> None:
        if self.lsq and self.per_channel:
            raise DanluError("QConfig: lsq=True learns one scale per tensor; set per_channel=False")
        _ = (self.act_scheme, self.weight_scheme)  # validates the bit widths now, not at first use
        if self.freeze_bn_after is not None and self.freeze_bn_after < 0:
            raise DanluError(f"QConfig: freeze_bn_after must be >= 0 or None, got {self.freeze_bn_after}")

    @property
    def act_scheme(self) -> QScheme:
        return activation_scheme(self.act_bits)

    @property
    def weight_scheme(self) -> QScheme:
        return weight_scheme(self.weight_bits, per_channel=self.per_channel)
