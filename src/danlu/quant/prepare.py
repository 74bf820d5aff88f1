"""``prepare_qat`` / ``prepare_ptq``: trace a float model and insert fake quantization.

The model is traced with ``torch.fx`` and rewritten:

1. ``nn.Identity`` nodes are removed (danlu's ``norm="none"``);
2. Conv2d/Linear [-> BatchNorm] [-> ReLU/ReLU6] chains become one ``QATWeighted`` (BN folded);
3. ``a + b`` [-> ReLU] becomes ``QATAdd``; ``AdaptiveAvgPool2d(1)`` becomes ``QATAvgPool``;
4. a ``QuantStub`` follows the input;
5. max-pool, flatten/view/reshape, dropout and unfused ReLU pass quantized values through.

Anything else (GroupNorm, LayerNorm, sigmoid, ...) is refused, listing every such layer by name.
The result is a ``torch.fx.GraphModule`` whose ``quant_output`` attribute names the module
whose ``out_fq`` quantizes the network output.
"""

from __future__ import annotations

import copy
import operator
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn

from danlu.errors import DanluError
from danlu.quant.config import QConfig
from danlu.quant.qat_modules import QATAdd, QATAvgPool, QATModule, QATReLU, QATWeighted, QuantStub, set_phase

PASS_MODULES = (nn.MaxPool2d, nn.Flatten, nn.Dropout)
PASS_METHODS = ("flatten", "view", "reshape", "contiguous")
PASS_FUNCTIONS: tuple[Callable[..., Any], ...] = (torch.flatten,)
RELU_FUNCTIONS: tuple[Callable[..., Any], ...] = (F.relu, torch.relu)
ADD_FUNCTIONS: tuple[Callable[..., Any], ...] = (operator.add, torch.add)


def _module(gm: fx.GraphModule, node: fx.Node) -> nn.Module | None:
    return gm.get_submodule(str(node.target)) if node.op == "call_module" else None


def _act_of(gm: fx.GraphModule, node: fx.Node) -> str | None:
    mod = _module(gm, node)
    if isinstance(mod, nn.ReLU) or (node.op == "call_function" and node.target in RELU_FUNCTIONS):
        return "relu"
    if isinstance(mod, nn.ReLU6) or (isinstance(mod, nn.Hardtanh) and (mod.min_val, mod.max_val) == (0.0, 6.0)):
        return "relu6"
    return None


def _sole_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _replace_chain(gm: fx.GraphModule, chain: list[fx.Node], new: nn.Module, name: str,
                   args: tuple[Any, ...]) -> fx.Node:
    target = name.replace(".", "_")
    gm.add_submodule(target, new)
    with gm.graph.inserting_before(chain[0]):
        node = gm.graph.call_module(target, args)
    chain[-1].replace_all_uses_with(node)
    for n in reversed(chain):
        gm.graph.erase_node(n)
    return node


def _fuse(gm: fx.GraphModule, cfg: QConfig) -> None:
    for node in list(gm.graph.nodes):
        mod = _module(gm, node)
        if isinstance(mod, nn.Identity):
            node.replace_all_uses_with(node.args[0])
            gm.graph.erase_node(node)
    for node in list(gm.graph.nodes):
        if getattr(node, "_erased", False):  # already fused into an earlier chain
            continue
        mod = _module(gm, node)
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            chain, bn, act = [node], None, None
            nxt = _sole_user(node)
            bn_type = nn.BatchNorm2d if isinstance(mod, nn.Conv2d) else nn.BatchNorm1d
            if nxt is not None and isinstance(_module(gm, nxt), bn_type):
                bn = _module(gm, nxt)
                chain.append(nxt)
                nxt = _sole_user(nxt)
            if nxt is not None and _act_of(gm, nxt) is not None:
                act = _act_of(gm, nxt)
                chain.append(nxt)
            _replace_chain(gm, chain, QATWeighted(mod, bn, act, cfg), f"q_{node.target}", (node.args[0],))
        elif node.op == "call_function" and node.target in ADD_FUNCTIONS and len(node.args) == 2 \
                and all(isinstance(a, fx.Node) for a in node.args):
            chain, act = [node], None
            nxt = _sole_user(node)
            if nxt is not None and _act_of(gm, nxt) is not None:
                act = _act_of(gm, nxt)
                chain.append(nxt)
            _replace_chain(gm, chain, QATAdd(act, cfg), f"q_add_{node.name}", tuple(node.args))
        elif isinstance(mod, nn.AdaptiveAvgPool2d) and mod.output_size in (1, (1, 1)):
            _replace_chain(gm, [node], QATAvgPool(cfg), f"q_{node.target}", (node.args[0],))
    for node in list(gm.graph.nodes):
        if node.op == "placeholder":
            gm.add_submodule("q_input", QuantStub(cfg))
            with gm.graph.inserting_after(node):
                stub = gm.graph.call_module("q_input", (node,))
            node.replace_all_uses_with(stub, delete_user_cb=lambda u, s=stub: u is not s)
            break
    for node in list(gm.graph.nodes):
        if _act_of(gm, node) == "relu":
            _replace_chain(gm, [node], QATReLU(), f"q_relu_{node.name}", (node.args[0],))


def _is_pass(gm: fx.GraphModule, node: fx.Node) -> bool:
    mod = _module(gm, node)
    return (isinstance(mod, (*PASS_MODULES, QATReLU)) or (node.op == "call_method" and node.target in PASS_METHODS)
            or (node.op == "call_function" and node.target in PASS_FUNCTIONS))


def _link(gm: fx.GraphModule) -> str:
    """Connect every QAT module to the fake-quantizers of its inputs; return the output's module name."""
    source: dict[fx.Node, str] = {}
    unsupported: list[str] = []
    out_name = ""
    for node in gm.graph.nodes:
        mod = _module(gm, node)
        if node.op in ("placeholder", "get_attr"):
            continue
        if isinstance(mod, QATModule):
            ins = [source[a] for a in node.args if isinstance(a, fx.Node) and a in source]
            mod.link_inputs([gm.get_submodule(n).out_fq for n in ins], ins)
            source[node] = str(node.target)
        elif _is_pass(gm, node):
            first = node.args[0]
            if isinstance(first, fx.Node) and first in source:
                source[node] = source[first]
        elif node.op == "output":
            res = node.args[0]
            if not isinstance(res, fx.Node) or res not in source:
                unsupported.append("output (the model must return one quantized tensor)")
            else:
                out_name = source[res]
        else:
            what = type(mod).__name__ if mod is not None else str(getattr(node.target, "__name__", node.target))
            unsupported.append(f"{node.target if mod is not None else node.name} ({what})")
    if unsupported:
        raise DanluError(f"prepare_qat: unsupported layers/ops {unsupported}; supported: Conv2d/Linear "
                         "[+BatchNorm] [+ReLU/ReLU6], add [+ReLU], AdaptiveAvgPool2d(1), MaxPool2d, Flatten, Dropout")
    return out_name


def prepare_qat(model: nn.Module, cfg: QConfig | None = None) -> fx.GraphModule:
    """A fake-quantized copy of ``model`` for QAT (observers and fake quant both on; ``model`` untouched)."""
    cfg = cfg or QConfig()
    try:
        gm = fx.symbolic_trace(copy.deepcopy(model))
    except Exception as exc:  # noqa: BLE001 - tracing errors are many kinds
        raise DanluError(f"prepare_qat: could not trace {type(model).__name__} with torch.fx ({exc})") from exc
    _fuse(gm, cfg)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    gm.quant_output = _link(gm)
    gm.qconfig = cfg
    gm.train(model.training)
    return gm


def prepare_ptq(model: nn.Module, cfg: QConfig | None = None) -> fx.GraphModule:
    """A copy for post-training quantization: eval mode, observers on, fake quant off (run calibration batches)."""
    gm = prepare_qat(model, cfg or QConfig(act_observer="minmax"))
    gm.eval()
    return set_phase(gm, observe=True, fake_quant=False)


@torch.no_grad()
def calibrate(gm: fx.GraphModule, batches: Any) -> fx.GraphModule:
    """Run ``batches`` (an iterable of input tensors) through a PTQ model, then freeze: fake quant on, observers off."""
    gm.eval()
    set_phase(gm, observe=True, fake_quant=False)
    n = 0
    for x in batches:
        gm(x)
        n += 1
    if n == 0:
        raise DanluError("calibrate: got no batches")
    # weights are observed on first use; activations need every FakeQuantize initialised
    return set_phase(gm, observe=False, fake_quant=True)
