"""GraNd: the norm of each example's loss gradient (Paul, Ganguli & Dziugaite 2021).

"Deep Learning on a Data Diet", NeurIPS 2021 (arXiv:2107.07075), eq. 1:
``GraNd(x, y) = E_w || grad_w L(f_w(x), y) ||_2`` over all weights, the expectation over
independent initializations (the paper scores at initialization, ``epochs=0``, or early in training).

:func:`grad_norms` computes a chunk of examples at once, by one of ``GRAD_NORM_METHODS``:
``"vmap"``: ``torch.func`` ``vmap`` of ``grad`` of a ``functional_call`` of the whole model, which
materializes every example's full gradient (memory-bound: on a CPU barely faster than a loop);
``"modules"``: one batched backward, then each module's share in closed form (Linear, Conv2d) or by
``torch.func`` ``vmap`` of that module's ``vjp`` (:mod:`danlu.select.ghost`), exact when every
parameterized module runs once per forward; ``"auto"`` (default) picks ``"modules"`` when it is
exact for the model, else ``"vmap"``. :func:`grad_norms_loop` is the readable reference, one
backward pass per example. The model runs in eval mode (BatchNorm uses its running statistics),
so one example's gradient does not depend on the others in its chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from danlu.errors import DanluError
from danlu.registry import Registry
from danlu.select._train import (
    ModelFactory,
    OptimizerFactory,
    check_dataset,
    score_over_seeds,
)
from danlu.select.spec import register_score


def _vmap_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Whole-model ``torch.func.vmap(grad(loss))``: every example's full gradient, then its norm. (B,)."""
    from torch.func import functional_call, grad, vmap

    params = {k: p.detach() for k, p in model.named_parameters() if p.requires_grad}
    frozen = {k: p.detach() for k, p in model.named_parameters() if not p.requires_grad}
    buffers = {k: b.detach() for k, b in model.named_buffers()}

    def loss(p: dict[str, Tensor], xi: Tensor, yi: Tensor) -> Tensor:
        logits = functional_call(model, {**p, **frozen, **buffers}, (xi.unsqueeze(0),))  # (1, C)
        return nn.functional.cross_entropy(logits, yi.unsqueeze(0))

    g = vmap(grad(loss), in_dims=(None, 0, 0))(params, x, y)  # {name: (B, *shape)}
    return torch.stack([t.flatten(1).pow(2).sum(1) for t in g.values()]).sum(0).sqrt()


def _module_norms(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    from danlu.select.ghost import eligible, ghost_norms

    if not eligible(model, x[:1]):
        raise DanluError("grad_norms method 'modules' needs every module with trainable parameters to run once "
                         "per forward on one tensor; use method='vmap' (or 'auto') for this model")
    return ghost_norms(model, x, y)


#: name -> ``fn(model, x (B, ...), y (B,)) -> (B,)`` per-example gradient norms of an eval-mode model
GRAD_NORM_METHODS: Registry[Callable[[nn.Module, Tensor, Tensor], Tensor]] = Registry("grad-norm method")
GRAD_NORM_METHODS.add("vmap", _vmap_norms)
GRAD_NORM_METHODS.add("modules", _module_norms)


def grad_norms(model: nn.Module, x: Tensor, y: Tensor, *, chunk: int = 128, method: str = "auto") -> Tensor:
    """Per-example ``||grad_w CE(model(x_i), y_i)||_2`` over the trainable parameters.

    Shapes: x (N, ...), y (N,) -> (N,) in the parameters' dtype, on their device. The model is put in
    eval mode; ``chunk`` examples share one call (``"vmap"`` memory: chunk x number of parameters).
    ``method``: ``"auto"``, ``"vmap"`` or ``"modules"`` (see the module docstring).
    """
    if not isinstance(chunk, int) or chunk <= 0:
        raise DanluError(f"chunk must be a positive int, got {chunk!r}")
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise DanluError("grad_norms: the model has no trainable parameters")
    device = params[0].device
    if method == "auto":
        from danlu.select.ghost import eligible

        method = "modules" if eligible(model, x[:1].to(device)) else "vmap"
    fn = GRAD_NORM_METHODS.get(method)
    out = [fn(model, x[i:i + chunk].to(device), y[i:i + chunk].to(device)).detach() for i in range(0, len(x), chunk)]
    return torch.cat(out)


def grad_norms_loop(model: nn.Module, x: Tensor, y: Tensor) -> Tensor:
    """Reference for :func:`grad_norms`: one ``torch.autograd.grad`` per example (slow, readable). (N,)."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    device = params[0].device
    out = []
    for i in range(len(x)):
        loss = nn.functional.cross_entropy(model(x[i:i + 1].to(device)), y[i:i + 1].to(device))
        grads = torch.autograd.grad(loss, params)
        out.append(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
    return torch.stack(out)


@register_score("grand", harder="high", epochs=0, paper="Paul et al. 2021, arXiv:2107.07075")
def grand(model_factory: ModelFactory, dataset: TensorDataset, *, epochs: int = 0, seeds: int | Sequence[int] = 3,
          batch_size: int = 128, device: torch.device | str | None = None, optimizer: OptimizerFactory | None = None,
          progress: bool = True) -> Tensor:
    """GraNd score of every example, averaged over seeds: (N,) float32, higher = harder.

    Arguments as :func:`danlu.select.el2n`; ``epochs=0`` (the default) scores at initialization, as
    the paper's GraNd; ``batch_size`` is also the vmap chunk.
    """
    x, y = check_dataset(dataset)

    def score(model: nn.Module, _: object, __: torch.device) -> Tensor:
        return grad_norms(model, x, y, chunk=batch_size).detach().double().cpu()

    return score_over_seeds("grand", "GraNd", model_factory, dataset, score=score, epochs=epochs, seeds=seeds,
                            batch_size=batch_size, device=device, optimizer=optimizer, progress=progress)
