"""Per-example gradient norms layer by layer, without materializing every example's full gradient.

One batched forward and backward of the summed loss (in eval mode every example's loss depends on
its own input only, so the gradient at a module's output, row ``i``, is example ``i``'s) records each
parameterized module's input ``a`` and output gradient ``g``. Then, per module:

* ``nn.Linear``: ``grad W_i = sum_t g_it a_it^T``. For one position, ``||grad W_i||^2 = ||a_i||^2
  ||g_i||^2`` (Goodfellow 2015, "Efficient Per-Example Gradient Computations", arXiv:1510.01799);
  for sequences ``sum((A_i A_i^T) * (G_i G_i^T))``, the "ghost norm" (Li et al. 2022, "Large
  Language Models Can Be Strong Differentially Private Learners", arXiv:2110.05679), or the
  explicit ``G_i^T A_i`` when that is smaller.
* ``nn.Conv2d`` (zero padding, one group): ``grad W_i = G_i unfold(a_i)^T``, small for a conv.
* any other module with parameters of its own (norms, embeddings, custom blocks): ``torch.func``
  ``vmap`` of the ``vjp`` of that module alone, per example; these parameters are few.

:func:`eligible` says when this is exact: every module with trainable parameters is called once per
forward with one tensor in and one tensor out. Otherwise :func:`danlu.select.grad_norms` uses the
plain ``vmap(grad)`` of the whole model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from danlu.registry import Registry

#: module type name -> ``fn(module, a (B, ...), g (B, ...)) -> (B,)`` squared norm of its own parameters' gradients
CLOSED_FORMS: Registry[Callable[[nn.Module, Tensor, Tensor], Tensor]] = Registry("per-example gradient closed form")


@CLOSED_FORMS.register("Linear")
def _linear(m: nn.Module, a: Tensor, g: Tensor) -> Tensor:
    b = a.shape[0]
    a, g = a.reshape(b, -1, a.shape[-1]), g.reshape(b, -1, g.shape[-1])  # (B, T, in), (B, T, out)
    out = torch.zeros(b, dtype=g.dtype, device=g.device)
    if m.weight.requires_grad:
        t, i, o = a.shape[1], a.shape[2], g.shape[2]
        if t == 1:
            out = out + a.pow(2).sum((1, 2)) * g.pow(2).sum((1, 2))
        elif t * t <= i * o:
            out = out + (torch.bmm(a, a.transpose(1, 2)) * torch.bmm(g, g.transpose(1, 2))).sum((1, 2))
        else:
            out = out + torch.bmm(g.transpose(1, 2), a).pow(2).sum((1, 2))
    if m.bias is not None and m.bias.requires_grad:
        out = out + g.sum(1).pow(2).sum(1)
    return out


@CLOSED_FORMS.register("Conv2d")
def _conv2d(m: nn.Module, a: Tensor, g: Tensor) -> Tensor:
    b = a.shape[0]
    out = torch.zeros(b, dtype=g.dtype, device=g.device)
    gf = g.flatten(2)  # (B, C_out, L)
    if m.weight.requires_grad:
        cols = nn.functional.unfold(a, m.kernel_size, dilation=m.dilation, padding=m.padding,
                                    stride=m.stride)  # (B, C_in k k, L)
        out = out + torch.bmm(gf, cols.transpose(1, 2)).pow(2).sum((1, 2))  # ||(B, C_out, C_in k k)||^2
    if m.bias is not None and m.bias.requires_grad:
        out = out + gf.sum(2).pow(2).sum(1)
    return out


def _closed_form(m: nn.Module) -> Callable[[nn.Module, Tensor, Tensor], Tensor] | None:
    name = type(m).__name__
    if name not in CLOSED_FORMS or type(m) not in (nn.Linear, nn.Conv2d):
        return None
    if isinstance(m, nn.Conv2d) and (m.groups != 1 or m.padding_mode != "zeros" or isinstance(m.padding, str)):
        return None
    return CLOSED_FORMS.get(name)


def _vjp_norms(m: nn.Module, a: Tensor, g: Tensor) -> Tensor:
    """Squared norm (B,) of each example's gradient of ``m``'s own parameters, by vmap of vjp."""
    from torch.func import functional_call, vjp, vmap

    own = {k: p.detach() for k, p in m.named_parameters(recurse=False) if p.requires_grad}

    def one(ai: Tensor, gi: Tensor) -> Tensor:
        _, pull = vjp(lambda p: functional_call(m, p, (ai.unsqueeze(0),)), own)
        grads = pull(gi.unsqueeze(0))[0]
        return sum(t.pow(2).sum() for t in grads.values())

    return vmap(one)(a, g)


def _owners(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if any(p.requires_grad for p in m.parameters(recurse=False))]


def eligible(model: nn.Module, x: Tensor) -> bool:
    """True when every module owning trainable parameters runs once on one tensor and returns one
    tensor in ``model(x[:1])`` (then :func:`ghost_norms` is exact)."""
    owners, calls, ok = _owners(model), {}, [True]

    def hook(m: nn.Module, inputs: tuple, output: object) -> None:
        calls[id(m)] = calls.get(id(m), 0) + 1
        if len(inputs) != 1 or not isinstance(inputs[0], Tensor) or not isinstance(output, Tensor):
            ok[0] = False

    handles = [m.register_forward_hook(hook) for m in owners]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in handles:
            h.remove()
    return bool(owners) and ok[0] and all(calls.get(id(m), 0) == 1 for m in owners)


def ghost_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Per-example ``||grad_w CE(model(x_i), y_i)||_2`` (N,) for a model in eval mode, by modules.

    Call only when :func:`eligible`; x (N, ...) and y (N,) on the model's device.
    """
    owners = _owners(model)
    inputs: dict[int, Tensor] = {}
    outputs: dict[int, Tensor] = {}

    def hook(m: nn.Module, ins: tuple, out: Tensor) -> None:
        inputs[id(m)], outputs[id(m)] = ins[0].detach(), out

    handles = [m.register_forward_hook(hook) for m in owners]
    try:
        with torch.enable_grad():
            loss = nn.functional.cross_entropy(model(x), y, reduction="sum")  # sum: row i's gradient is example i's
            grads = torch.autograd.grad(loss, [outputs[id(m)] for m in owners], allow_unused=True)
    finally:
        for h in handles:
            h.remove()
    total = torch.zeros(len(y), dtype=loss.dtype, device=loss.device)
    for m, g in zip(owners, grads):
        if g is None:  # a module whose output the loss does not use: zero gradient
            continue
        form = _closed_form(m)
        a = inputs[id(m)]
        total = total + (form(m, a, g) if form is not None else _vjp_norms(m, a, g))
    return total.sqrt()
