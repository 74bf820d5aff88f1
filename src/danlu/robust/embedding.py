"""Embedding-space adversarial training for text: FGM and PGD on an ``nn.Embedding``'s output.

Miyato et al., "Adversarial Training Methods for Semi-Supervised Text Classification",
arXiv:1605.07725 (FGM: r = eps * g / ||g||_2, g the loss gradient with respect to the embedded
sequence, normalised per example); Madry et al., arXiv:1706.06083 (PGD: several normalised ascent
steps of size alpha, projected onto the eps-ball); the tricks column's FGM / PGD recipe (clean
backward, adversarial backward accumulating into the same gradients, one optimizer step).

    >>> import torch
    >>> from danlu.robust.embedding import EmbeddingAttack
    >>> emb = torch.nn.Embedding(10, 4); head = torch.nn.Linear(4, 2)
    >>> model = lambda t: head(emb(t).mean(1))
    >>> x, y = torch.tensor([[1, 2, 3], [4, 5, 6]]), torch.tensor([0, 1])
    >>> attack = EmbeddingAttack(emb, eps=1.0)
    >>> with attack.watch():
    ...     loss = torch.nn.functional.cross_entropy(model(x), y)
    >>> loss.backward()                                   # clean gradients
    >>> with attack.perturbed():                          # emb(x) + r, r = eps g / ||g||
    ...     torch.nn.functional.cross_entropy(model(x), y).backward()   # adversarial gradients add up
    >>> attack.last_r.flatten(1).norm(dim=1)
    tensor([1.0000, 1.0000])

The perturbation is added to the embedding's *output* by a forward hook (the weights are never
written, so there is nothing to restore but the hook, which every exit removes). It composes with
any training step: the two blocks wrap whatever forward the step runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.robust._checks import check_count, check_eps, check_positive


def _unit(g: Tensor) -> Tensor:
    """g (B, ...) divided by its per-example L2 norm (zero rows stay zero)."""
    norm = g.flatten(1).norm(dim=1).view(-1, *([1] * (g.dim() - 1)))
    return torch.where(norm > 0, g / norm.clamp(min=1e-12), torch.zeros_like(g))


class EmbeddingAttack:
    """FGM (``steps=1``) or PGD (``steps > 1``) on the output of ``embedding`` (B, T, D).

    Args:
        embedding: the module whose output is perturbed (an ``nn.Embedding`` or any module called
            once per forward).
        eps: L2 radius of the perturbation per example (over its T x D block).
        steps: 1 for FGM; K > 1 for PGD (K - 1 inner ascent steps, then the training forward).
        alpha: PGD step size (default ``eps / steps * 2``, a common choice).
    """

    def __init__(self, embedding: nn.Module, eps: float = 1.0, *, steps: int = 1, alpha: float | None = None) -> None:
        if not isinstance(embedding, nn.Module):
            raise DanluError(f"embedding must be a torch.nn.Module, got {type(embedding).__name__}")
        self.embedding = embedding
        self.eps = check_eps(eps)
        self.steps = check_count(steps, "steps", minimum=1)
        self.alpha = check_positive(alpha if alpha is not None else 2 * max(self.eps, 1e-12) / self.steps, "alpha")
        self._out: Tensor | None = None
        self.last_r: Tensor | None = None

    @contextlib.contextmanager
    def _hook(self, fn: Callable[[nn.Module, tuple, Tensor], Tensor | None]) -> Iterator[None]:
        handle = self.embedding.register_forward_hook(fn)
        try:
            yield
        finally:
            handle.remove()

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Record the embedding's output in the block so the next ``backward`` keeps its gradient."""

        def keep(mod: nn.Module, inp: tuple, out: Tensor) -> None:
            if out.requires_grad:
                out.retain_grad()
            self._out = out

        self._out = None
        with self._hook(keep):
            yield

    def _clean_grad(self) -> Tensor:
        out = self._out
        if out is None or out.grad is None:
            raise DanluError("EmbeddingAttack: no gradient of the embedding output; run the clean forward inside "
                             "attack.watch() and call loss.backward() before attack.perturbed()")
        return out.grad.detach()

    @contextlib.contextmanager
    def perturbed(self, loss_fn: Callable[[], Tensor] | None = None) -> Iterator[Tensor]:
        """The block's forwards see ``embedding(x) + r``; yields r (B, T, D).

        FGM: ``r = eps * g / ||g||`` from the clean gradient ``g``. PGD (``steps > 1``): start at
        ``alpha * g / ||g||``, then ``steps - 1`` times ``r <- proj_eps(r + alpha * g_r / ||g_r||)`` with
        ``g_r`` the gradient of ``loss_fn()`` (the same forward + loss, a closure) at the perturbed
        output, taken with ``torch.autograd.grad`` so no parameter gradient is touched.
        """
        g = self._clean_grad()
        if self.steps == 1:
            r = self.eps * _unit(g)
        else:
            if loss_fn is None:
                raise DanluError("EmbeddingAttack with steps > 1 (PGD) needs loss_fn, a closure that runs the "
                                 "forward and returns the loss")
            r = self._pgd(g, loss_fn)
        self.last_r = r

        def add(mod: nn.Module, inp: tuple, out: Tensor) -> Tensor:
            if out.shape != r.shape:
                raise DanluError(f"EmbeddingAttack: the embedding output changed shape from {tuple(r.shape)} to "
                                 f"{tuple(out.shape)} between the clean and the adversarial forward")
            return out + r

        with self._hook(add):
            yield r

    def _pgd(self, g: Tensor, loss_fn: Callable[[], Tensor]) -> Tensor:
        r = self.alpha * _unit(g)
        r = self._project(r)
        for _ in range(self.steps - 1):
            rr = r.clone().requires_grad_(True)
            with self._hook(lambda mod, inp, out, rr=rr: out + rr):
                loss = loss_fn()
            (gr,) = torch.autograd.grad(loss, rr)
            r = self._project(r + self.alpha * _unit(gr.detach()))
        return r.detach()

    def _project(self, r: Tensor) -> Tensor:
        norm = r.flatten(1).norm(dim=1).view(-1, *([1] * (r.dim() - 1)))
        return r * torch.clamp(self.eps / norm.clamp(min=1e-12), max=1.0)


def embedding_attack(embedding: nn.Module, eps: float = 1.0, *, method: str = "fgm", steps: int = 3,
                     alpha: float | None = None) -> EmbeddingAttack:
    """``EmbeddingAttack`` by name: ``"fgm"`` (one step) or ``"pgd"`` (``steps`` steps)."""
    methods = {"fgm": 1, "pgd": steps}
    if method not in methods:
        raise DanluError(f"embedding attack method must be one of {', '.join(methods)}, got {method!r}")
    return EmbeddingAttack(embedding, eps, steps=methods[method], alpha=alpha)


__all__ = ["EmbeddingAttack", "embedding_attack"]
