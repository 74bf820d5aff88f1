"""``convert``: a prepared (QAT or calibrated PTQ) model -> an integer-only ``IntegerModel``.

Each QAT module is replaced by its integer counterpart (registry ``INT_LOWERINGS``, keyed by
the QAT module type); max-pool and unfused ReLU act on codes; dropout becomes the identity.
``convert`` freezes the prepared model it is given (observers off, fake quant on, eval) so that
the prepared model stays the exact float simulation of the integer model it returned.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch import Tensor, fx, nn

from danlu.errors import DanluError
from danlu.quant.int_modules import IntAdd, IntAvgPool, IntMaxPool, IntQuantize, IntReLU, IntWeighted
from danlu.quant.qat_modules import QATAdd, QATAvgPool, QATModule, QATReLU, QATWeighted, QuantStub, set_phase
from danlu.registry import Registry

INT_LOWERINGS: Registry = Registry("integer lowering")  # QAT module class name -> factory(module, name)
INT_LOWERINGS.add(QuantStub.__name__, lambda m, name: IntQuantize(m))
INT_LOWERINGS.add(QATWeighted.__name__, IntWeighted)
INT_LOWERINGS.add(QATAdd.__name__, IntAdd)
INT_LOWERINGS.add(QATAvgPool.__name__, IntAvgPool)


class IntegerModel(nn.Module):
    """Integer-only network: float input -> int64 output codes; ``dequantize`` gives the float logits.

    ``graph`` is the traced network with integer modules; ``out_scale``/``out_zp`` quantize its output.
    """

    def __init__(self, graph: fx.GraphModule, out_scale: Tensor, out_zp: Tensor) -> None:
        super().__init__()
        self.graph = graph
        self.register_buffer("out_scale", out_scale.float().reshape(1).clone())
        self.register_buffer("out_zp", out_zp.to(torch.int32).reshape(1).clone())

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        return self.graph(x)

    def dequantize(self, q: Tensor) -> Tensor:
        """``S_out (q - Z_out)`` in float32, the same arithmetic as the simulation's fake quant."""
        return (q - self.out_zp.long()).float() * self.out_scale

    def predict(self, x: Tensor) -> Tensor:
        """Float logits computed by the integer network."""
        return self.dequantize(self(x))


def _source(gm: fx.GraphModule, node: fx.Node) -> QATModule:
    """The QAT module whose output quantizer holds the qparams of ``node``'s first input."""
    cur = node.args[0]
    while isinstance(cur, fx.Node):
        if cur.op == "call_module" and isinstance(gm.get_submodule(str(cur.target)), QATModule):
            return gm.get_submodule(str(cur.target))
        cur = cur.args[0] if cur.args else None
    raise DanluError(f"convert: cannot find the quantized producer of {node.name}")


def _lower_pass(gm: fx.GraphModule, node: fx.Node, mod: nn.Module) -> nn.Module | None:
    if isinstance(mod, nn.MaxPool2d):
        return IntMaxPool(mod, _source(gm, node).out_fq.scheme.qmin)
    if isinstance(mod, QATReLU):
        return IntReLU(int(_source(gm, node).out_fq.qparams()[1]))
    if isinstance(mod, nn.Dropout):
        return nn.Identity()
    return None


def _set_module(root: nn.Module, name: str, new: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)


@torch.no_grad()
def freeze(prepared: fx.GraphModule) -> fx.GraphModule:
    """Eval mode, observers off, fake quant on: the simulation of the converted model.

    Weight ranges are observed once more on the weights as inference uses them (BN folded with
    its running statistics, after the last optimizer step); during training they were observed on
    weights folded with batch statistics, before that step. Learned (LSQ) scales are kept.
    """
    prepared.eval()
    for m in prepared.modules():
        if isinstance(m, QATWeighted) and not m.weight_fq.learnable:
            m.weight_fq.observer_enabled, m.weight_fq.fake_quant_enabled = True, False
            m.weight_fq(m.folded()[0])
    return set_phase(prepared, observe=False, fake_quant=True)


def convert(prepared: fx.GraphModule) -> IntegerModel:
    """Integer model from ``prepare_qat``/``prepare_ptq`` output (freezes ``prepared``, see module doc)."""
    if not hasattr(prepared, "quant_output"):
        raise DanluError("convert expects the output of danlu.quant.prepare_qat / prepare_ptq")
    for n, m in prepared.named_modules():
        if isinstance(m, QATModule) and not bool(m.out_fq.initialized):
            raise DanluError(f"convert: {n!r} has never seen data; run training or calibration batches first")
    freeze(prepared)
    gm = copy.deepcopy(prepared)
    replacements: dict[str, nn.Module] = {}
    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        name = str(node.target)
        mod = gm.get_submodule(name)
        lower: Callable[..., nn.Module] | None = (INT_LOWERINGS.get(type(mod).__name__)
                                                 if isinstance(mod, QATModule) else None)
        new = lower(mod, name) if lower is not None else _lower_pass(gm, node, mod)
        if new is not None:
            replacements[name] = new
    for name, new in replacements.items():
        _set_module(gm, name, new)
    gm.recompile()
    s_out, z_out = prepared.get_submodule(prepared.quant_output).out_fq.qparams()
    return IntegerModel(gm, s_out, z_out).eval()
