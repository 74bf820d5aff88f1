"""The WGAN-GP gradient penalty (Gulrajani et al. 2017, "Improved Training of Wasserstein GANs",
arXiv:1704.00028, Algorithm 1).

On points x̂ = ε x + (1 - ε) x̃ between real x and generated x̃ samples (ε ~ U[0, 1] per sample), the
critic's input-gradient norm is pulled to 1: ``λ E[(‖∇_x̂ D(x̂)‖₂ - 1)²]`` with λ = 10 in the paper.
The penalty is differentiable in the critic's weights (``create_graph=True``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from danlu.errors import DanluError

LAMBDA = 10.0  # the paper's penalty weight


def interpolate(real: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """x̂ = ε real + (1 - ε) fake: real, fake (B, ...), eps (B,) in [0, 1] -> (B, ...)."""
    if real.shape != fake.shape or eps.shape != real.shape[:1]:
        raise DanluError(f"interpolate: real and fake must have one shape and eps (B,), got {tuple(real.shape)}, "
                         f"{tuple(fake.shape)}, {tuple(eps.shape)}")
    e = eps.reshape(-1, *([1] * (real.dim() - 1))).to(real.dtype)
    return e * real + (1 - e) * fake


def penalty_from_scores(scores: Tensor, points: Tensor, weight: float = LAMBDA) -> Tensor:
    """``weight · mean((‖∂scores/∂points‖₂ - 1)²)`` for critic scores (B, 1) or (B,) computed from
    ``points`` (B, ...) (which must require grad)."""
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    norm = grad.reshape(len(grad), -1).norm(2, dim=1)  # (B,)
    return weight * ((norm - 1) ** 2).mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, *, eps: Tensor | None = None,
                     weight: float = LAMBDA, generator: torch.Generator | None = None) -> Tensor:
    """The penalty () at interpolates of ``real`` and ``fake`` (B, ...); ``eps`` (B,) or drawn U[0, 1]."""
    if not weight >= 0:
        raise DanluError(f"gradient_penalty: weight must be >= 0, got {weight}")
    if eps is None:
        eps = torch.rand(len(real), generator=generator).to(real.device)
    points = interpolate(real.detach(), fake.detach(), eps).requires_grad_(True)
    return penalty_from_scores(critic(points), points, weight)
