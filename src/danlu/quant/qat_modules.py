"""Modules of a prepared (QAT/PTQ) model: the float simulation of the integer network.

Every module that changes values ends in a ``FakeQuantize`` (``out_fq``) holding its output's
(scale, zero point); modules that only move values (max-pool, flatten, ReLU on codes) keep
their input's. Each module knows the fake-quantizers of its inputs (``link_inputs``), which the
bias quantization (scale ``S_in * S_w``, int32, the paper's sec. 2.4) and ``convert`` need.

``QATWeighted`` is conv/linear (+ folded BN) (+ ReLU/ReLU6) as in the paper's Fig. C.8: in
training, BN folds with the current batch's statistics (computed from a float pass of the
layer) until ``freeze_bn()``; then, and in eval, with the running statistics.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.quant.config import QConfig
from danlu.quant.fake_quant import fake_quantize
from danlu.quant.fake_quant_module import FakeQuantize
from danlu.quant.fold import fold_bn

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
ACTIVATIONS = ("relu", "relu6")


def apply_activation(y: Tensor, act: str | None) -> Tensor:
    """``relu``/``relu6``/None on float values (fused into the layer's output clamp after convert)."""
    if act == "relu":
        return F.relu(y)
    if act == "relu6":
        return F.hardtanh(y, 0.0, 6.0)
    return y


class QATModule(nn.Module):
    """Base: has ``out_fq`` and a list of input fake-quantizers (not registered as children)."""

    def __init__(self, cfg: QConfig) -> None:
        super().__init__()
        self.out_fq = FakeQuantize(cfg.act_scheme, cfg.act_observer, learnable=cfg.lsq)
        self.input_names: list[str] = []
        object.__setattr__(self, "_inputs", [])

    def link_inputs(self, fqs: list[FakeQuantize], names: list[str]) -> None:
        object.__setattr__(self, "_inputs", list(fqs))
        self.input_names = list(names)

    @property
    def inputs(self) -> list[FakeQuantize]:
        return self._inputs


class QuantStub(QATModule):
    """Quantizes the network input: (any shape) -> same shape, fake-quantized."""

    def forward(self, x: Tensor) -> Tensor:
        return self.out_fq(x)


class QATWeighted(QATModule):
    """Conv2d or Linear (+ folded BatchNorm) (+ ReLU/ReLU6) with fake-quantized weights, bias and output.

    Shapes: as the wrapped layer ((B, C, H, W) -> (B, C', H', W') or (B, F) -> (B, F')).
    """

    def __init__(self, layer: nn.Conv2d | nn.Linear, bn: nn.BatchNorm1d | nn.BatchNorm2d | None, act: str | None,
                 cfg: QConfig) -> None:
        super().__init__(cfg)
        if isinstance(layer, nn.Conv2d) and (layer.groups != 1 or layer.dilation != (1, 1)
                                             or layer.padding_mode != "zeros" or isinstance(layer.padding, str)):
            raise DanluError(f"QAT conv supports groups=1, dilation=1, integer zero padding; got {layer}")
        if act not in (None, *ACTIVATIONS):
            raise DanluError(f"QAT activation must be one of {ACTIVATIONS} or None, got {act!r}")
        self.kind = "conv" if isinstance(layer, nn.Conv2d) else "linear"
        self.stride = tuple(layer.stride) if self.kind == "conv" else (1, 1)
        self.padding = tuple(layer.padding) if self.kind == "conv" else (0, 0)
        self.weight = nn.Parameter(layer.weight.detach().clone())
        has_bias = layer.bias is not None or bn is not None
        self.bias = nn.Parameter(layer.bias.detach().clone() if layer.bias is not None
                                 else torch.zeros(layer.weight.shape[0])) if has_bias else None
        self.bn = copy.deepcopy(bn) if bn is not None else None
        self.act = act
        self.bn_frozen = False
        self.freeze_bn_after = cfg.freeze_bn_after
        self.register_buffer("steps", torch.tensor(0))
        self.weight_fq = FakeQuantize(cfg.weight_scheme, cfg.weight_observer, channels=layer.weight.shape[0],
                                      learnable=cfg.lsq)
        self.quantize_bias = True

    def freeze_bn(self) -> None:
        """From now on fold with running statistics (the paper freezes after some steps)."""
        self.bn_frozen = True

    def _op(self, x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
        if self.kind == "conv":
            return F.conv2d(x, w, b, self.stride, self.padding)
        return F.linear(x, w, b)

    def folded(self, x: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """Float (weight, bias) after BN folding; with batch statistics of ``x`` when training unfrozen."""
        if self.bn is None:
            return self.weight, self.bias
        bn = self.bn
        if x is not None and self.training and not self.bn_frozen:
            y = self._op(x, self.weight, self.bias)  # float pass for the batch statistics (Fig. C.8)
            dims = [d for d in range(y.dim()) if d != 1]
            mean, var = y.mean(dims), y.var(dims, unbiased=False)
            with torch.no_grad():  # running statistics updated as nn.BatchNorm does (unbiased variance)
                n = y.numel() // y.shape[1]
                bn.num_batches_tracked += 1
                m = bn.momentum if bn.momentum is not None else 1.0 / float(bn.num_batches_tracked)
                bn.running_mean.mul_(1 - m).add_(m * mean.detach())
                bn.running_var.mul_(1 - m).add_(m * var.detach() * n / max(n - 1, 1))
            return fold_bn(self.weight, self.bias, mean, var, bn.weight, bn.bias, bn.eps)
        return fold_bn(self.weight, self.bias, bn.running_mean, bn.running_var, bn.weight, bn.bias, bn.eps)

    def quantized_bias(self, b: Tensor) -> Tensor:
        """Bias fake-quantized to int32 with scale ``S_in * S_w`` (per output channel), zero point 0."""
        if not (self.quantize_bias and self.inputs and self.weight_fq.fake_quant_enabled
                and self.inputs[0].fake_quant_enabled):
            return b
        s_in, _ = self.inputs[0].qparams()
        s_w, _ = self.weight_fq.qparams()
        scale = (s_in * s_w).expand(b.shape[0]).contiguous()
        return fake_quantize(b, scale, torch.zeros_like(scale, dtype=torch.int64), INT32_MIN, INT32_MAX, axis=0)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.bn is not None:
            self.steps += 1
            if self.freeze_bn_after is not None and int(self.steps) > self.freeze_bn_after:
                self.bn_frozen = True
        w, b = self.folded(x)
        wq = self.weight_fq(w)
        bq = self.quantized_bias(b) if b is not None else None
        return self.out_fq(apply_activation(self._op(x, wq, bq), self.act))


class QATAdd(QATModule):
    """``a + b`` (+ ReLU) of two quantized tensors, requantized to its own output scale."""

    def __init__(self, act: str | None, cfg: QConfig) -> None:
        super().__init__(cfg)
        self.act = act

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return self.out_fq(apply_activation(a + b, self.act))


class QATAvgPool(QATModule):
    """Global average pool (B, C, H, W) -> (B, C, 1, 1), requantized to its own output scale."""

    def forward(self, x: Tensor) -> Tensor:
        return self.out_fq(F.adaptive_avg_pool2d(x, 1))


class QATReLU(nn.Module):
    """A ReLU that could not be fused: on codes it is ``max(q, Z)``, so qparams pass through."""

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(x)


def fake_quantizers(model: nn.Module) -> list[FakeQuantize]:
    """Every FakeQuantize in ``model``."""
    return [m for m in model.modules() if isinstance(m, FakeQuantize)]


def set_phase(model: nn.Module, *, observe: bool, fake_quant: bool) -> nn.Module:
    """Switch every fake-quantizer: observe ranges and/or apply fake quantization."""
    for fq in fake_quantizers(model):
        fq.observer_enabled = observe
        fq.fake_quant_enabled = fake_quant
    return model


def freeze_bn(model: nn.Module) -> nn.Module:
    """Fold BN with running statistics from now on in every QATWeighted."""
    for m in model.modules():
        if isinstance(m, QATWeighted):
            m.freeze_bn()
    return model

