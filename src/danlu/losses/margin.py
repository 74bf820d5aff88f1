"""Angular-margin softmax heads: L-Softmax, SphereFace, NormFace, CosFace, ArcFace and the combined margin.

Each head holds the class weights W (C, D) and maps ``(embeddings (B, D), labels (B,))`` to the
cross-entropy loss of margin logits (``forward``) or to the logits themselves (:meth:`MarginHead.logits`;
without labels: the plain, margin-free scores used at test time). With θ_j the angle between the
embedding x and W_j, the target logit f_y changes while the others stay:

- L-Softmax (Liu et al. 2016, "Large-Margin Softmax Loss", arXiv:1612.02295):
  f_j = ‖W_j‖‖x‖cos θ_j, f_y = ‖W_y‖‖x‖ψ(θ_y), ψ(θ) = (-1)^k cos(mθ) - 2k on [kπ/m, (k+1)π/m];
  cos(mθ) is the Chebyshev polynomial T_m(cos θ) (no arccos, smooth at θ = 0 and π).
- SphereFace / A-Softmax (Liu et al. 2017, arXiv:1704.08063): the same ψ with ‖W_j‖ = 1; trained
  with the annealed target (λ‖x‖cos θ_y + ‖x‖ψ(θ_y)) / (1 + λ), λ = max(λ_min, base (1 + γ t)^-power)
  at training iteration t (the defaults 1000, 0.12, 1, 5 are those of the SphereFace Caffe release).
  L-Softmax anneals the same way (its paper's section 4 uses a decaying mix with plain softmax).
- NormFace (Wang et al. 2017, arXiv:1704.06369): f_j = s cos θ_j.
- CosFace / AM-Softmax (Wang et al. 2018, arXiv:1801.09414 and arXiv:1801.05599): f_y = s (cos θ_y - m).
- ArcFace (Deng et al. 2019, arXiv:1801.07698): f_y = s cos(θ_y + m). As insightface implements it,
  with θ_y > π - m (where cos(θ + m) would start rising again) replaced by s (cos θ_y - m sin m), and
  with ``easy_margin`` the margin applied only where cos θ_y > 0.
- Combined margin (the insightface paper's eq. 4): f_y = s (cos(m1 θ_y + m2) - m3).

Margins that make the target logit non-monotonic in θ on [0, π] are refused with their valid range.
Embeddings of zero norm are handled: their cosines are 0 (``F.normalize``'s eps), their losses and
gradients finite.

    >>> import torch
    >>> head = ArcFace(in_features=4, num_classes=3, s=16.0, m=0.3)
    >>> head(torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])).shape
    torch.Size([])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from danlu.errors import DanluError
from danlu.losses._checks import check_reduction
from danlu.registry import Registry

MARGIN_HEADS: Registry = Registry("margin head")
EPS = 1e-12  # F.normalize's floor on a norm: a zero embedding gets cosines 0


# ------------------------------------------------------------------------------ functional pieces
def cosine_logits(embeddings: Tensor, weight: Tensor) -> Tensor:
    """cos θ (B, C) between embeddings (B, D) and class weights (C, D); zero vectors give 0."""
    return F.normalize(embeddings, dim=1, eps=EPS) @ F.normalize(weight, dim=1, eps=EPS).t()


def chebyshev_cos(c: Tensor, m: int) -> Tensor:
    """cos(mθ) from c = cos θ by the recurrence T_{k+1} = 2c T_k - T_{k-1} (T_m(c), any shape)."""
    prev, cur = torch.ones_like(c), c
    if m == 0:
        return prev
    for _ in range(m - 1):
        prev, cur = cur, 2 * c * cur - prev
    return cur


def sphere_psi(c: Tensor, m: int) -> Tensor:
    """ψ(θ) = (-1)^k cos(mθ) - 2k for θ = arccos(c) in [kπ/m, (k+1)π/m]: decreasing from 1 to -(2m - 1).

    k is the number of thresholds cos(jπ/m), j = 1..m-1, that c lies at or below (no gradient through k).
    """
    c = c.clamp(-1.0, 1.0)
    with torch.no_grad():
        edges = torch.cos(torch.arange(1, m, dtype=c.dtype, device=c.device) * math.pi / m)  # (m-1,)
        k = (c.unsqueeze(-1) <= edges).sum(-1).to(c.dtype)  # (*)
    sign = 1.0 - 2.0 * torch.remainder(k, 2)
    return sign * chebyshev_cos(c, m) - 2.0 * k


def sphere_lambda(iteration: int, base: float = 1000.0, gamma: float = 0.12, power: float = 1.0,
                  lambda_min: float = 5.0) -> float:
    """The SphereFace annealing weight λ = max(λ_min, base (1 + γ t)^-power) at iteration t."""
    return max(lambda_min, base * (1.0 + gamma * iteration) ** (-power))


def _check_labels(labels: Tensor, batch: int, classes: int, where: str) -> None:
    if labels.is_floating_point() or labels.dtype == torch.bool or labels.dim() != 1 or len(labels) != batch:
        raise DanluError(f"{where}: labels must be integer class indices of shape ({batch},), got "
                         f"{tuple(labels.shape)} {labels.dtype}")
    if batch and (int(labels.min()) < 0 or int(labels.max()) >= classes):
        raise DanluError(f"{where}: labels must lie in [0, {classes - 1}], got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")


# ------------------------------------------------------------------------------ heads
class MarginHead(nn.Module):
    """Base class: class weights W (C, D), margin logits, cross entropy.

    Subclasses implement :meth:`scores` (the margin-free logits (B, C) and any per-row scale) and
    :meth:`target` (the target logit (B,) from the target cosine and the row's norm).

    Args:
        in_features: D, the embedding size.
        num_classes: C.
        reduction: "mean", "sum" or "none" for the cross entropy.
    """

    name = ""

    def __init__(self, in_features: int, num_classes: int, *, reduction: str = "mean") -> None:
        super().__init__()
        if in_features < 1 or num_classes < 2:
            raise DanluError(f"{type(self).__name__}: in_features must be >= 1 and num_classes >= 2, got "
                             f"{in_features} and {num_classes}")
        check_reduction(reduction)
        self.reduction = reduction
        self.weight = nn.Parameter(torch.empty(num_classes, in_features))
        nn.init.xavier_uniform_(self.weight)

    @property
    def num_classes(self) -> int:
        return self.weight.shape[0]

    def scores(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        """(logits without margin (B, C), cos θ (B, C))."""
        raise NotImplementedError

    def target(self, cos_y: Tensor, embeddings: Tensor, labels: Tensor) -> Tensor:
        """The margin target logit (B,) from cos θ_y (B,), the embeddings (B, D) and the labels (B,)."""
        raise NotImplementedError

    def logits(self, embeddings: Tensor, labels: Tensor | None = None) -> Tensor:
        """Logits (B, C): with labels, the target column carries the margin; without, plain scores."""
        where = type(self).__name__
        if embeddings.dim() != 2 or embeddings.shape[1] != self.weight.shape[1]:
            raise DanluError(f"{where}: embeddings must be (B, {self.weight.shape[1]}), got {tuple(embeddings.shape)}")
        plain, cos = self.scores(embeddings)
        if labels is None:
            return plain
        _check_labels(labels, len(embeddings), self.num_classes, where)
        cos_y = cos.gather(1, labels[:, None]).squeeze(1)  # (B,)
        target = self.target(cos_y, embeddings, labels)  # (B,)
        return plain.scatter(1, labels[:, None], target[:, None].to(plain.dtype))

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Cross entropy of the margin logits: () or (B,) with ``reduction="none"``."""
        return F.cross_entropy(self.logits(embeddings, labels), labels, reduction=self.reduction)


def _check_scale(s: float, where: str) -> None:
    if not s > 0:
        raise DanluError(f"{where}: scale s must be > 0, got {s}")


def _check_m_int(m: int, where: str) -> None:
    if not isinstance(m, int) or isinstance(m, bool) or m < 1:
        raise DanluError(f"{where}: the angular margin m must be an integer >= 1 (cos(mθ)), got {m!r}")


class _Annealed(MarginHead):
    """The multiplicative-angle heads (L-Softmax, SphereFace): ψ(θ) and the λ annealing."""

    normalize_weight = False

    def __init__(self, in_features: int, num_classes: int, *, m: int = 4, base: float = 1000.0,
                 gamma: float = 0.12, power: float = 1.0, lambda_min: float = 5.0, anneal: bool = True,
                 reduction: str = "mean") -> None:
        super().__init__(in_features, num_classes, reduction=reduction)
        _check_m_int(m, type(self).__name__)
        if not lambda_min >= 0 or not base >= 0 or not gamma >= 0 or not power >= 0:
            raise DanluError(f"{type(self).__name__}: base, gamma, power and lambda_min must be >= 0, got "
                             f"{base}, {gamma}, {power}, {lambda_min}")
        self.m, self.base, self.gamma, self.power, self.lambda_min, self.anneal = m, base, gamma, power, lambda_min, anneal
        self.register_buffer("iteration", torch.zeros((), dtype=torch.long))

    @property
    def lam(self) -> float:
        """The current annealing weight λ (0 when ``anneal`` is off: the pure margin target)."""
        if not self.anneal:
            return 0.0
        return sphere_lambda(int(self.iteration), self.base, self.gamma, self.power, self.lambda_min)

    def _weight(self) -> Tensor:
        return F.normalize(self.weight, dim=1, eps=EPS) if self.normalize_weight else self.weight

    def scores(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        plain = embeddings @ self._weight().t()  # (B, C): ‖W_j‖‖x‖cos θ_j
        return plain, cosine_logits(embeddings, self.weight)

    def target(self, cos_y: Tensor, embeddings: Tensor, labels: Tensor) -> Tensor:
        scale = embeddings.norm(dim=1)  # (B,) ‖x‖
        if not self.normalize_weight:
            scale = scale * self.weight.norm(dim=1)[labels]  # ‖W_y‖‖x‖
        lam = self.lam
        return scale * (lam * cos_y + sphere_psi(cos_y, self.m)) / (1.0 + lam)

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        loss = super().forward(embeddings, labels)
        if self.training:
            self.iteration += 1
        return loss


@MARGIN_HEADS.register("lsoftmax")
class LSoftmax(_Annealed):
    """L-Softmax (arXiv:1612.02295): f_y = ‖W_y‖‖x‖ψ(θ_y) with integer m, annealed (see the module docstring)."""

    name = "lsoftmax"


@MARGIN_HEADS.register("sphereface")
class SphereFace(_Annealed):
    """SphereFace / A-Softmax (arXiv:1704.08063): ‖W_j‖ = 1, f_y = ‖x‖ψ(θ_y), annealed with λ."""

    name = "sphereface"
    normalize_weight = True


class _Cosine(MarginHead):
    """Heads on s·cos θ (NormFace, CosFace, ArcFace, combined)."""

    def __init__(self, in_features: int, num_classes: int, *, s: float = 30.0, reduction: str = "mean") -> None:
        super().__init__(in_features, num_classes, reduction=reduction)
        _check_scale(s, type(self).__name__)
        self.s = float(s)

    def scores(self, embeddings: Tensor) -> tuple[Tensor, Tensor]:
        cos = cosine_logits(embeddings, self.weight)
        return self.s * cos, cos

    def target(self, cos_y: Tensor, embeddings: Tensor, labels: Tensor) -> Tensor:
        return self.s * self.margin(cos_y)

    def margin(self, c: Tensor) -> Tensor:
        """ψ(cos θ_y) (B,) before the scale s."""
        return c


@MARGIN_HEADS.register("normface")
class NormFace(_Cosine):
    """NormFace (arXiv:1704.06369): f_j = s cos θ_j for every class, no margin."""

    name = "normface"


@MARGIN_HEADS.register("cosface")
class CosFace(_Cosine):
    """CosFace / AM-Softmax (arXiv:1801.09414): f_y = s (cos θ_y - m), m >= 0."""

    name = "cosface"

    def __init__(self, in_features: int, num_classes: int, *, s: float = 30.0, m: float = 0.35,
                 reduction: str = "mean") -> None:
        super().__init__(in_features, num_classes, s=s, reduction=reduction)
        if not m >= 0:
            raise DanluError(f"CosFace: margin m must be >= 0, got {m}")
        self.m = float(m)

    def margin(self, c: Tensor) -> Tensor:
        return c - self.m


def _sin_from_cos(c: Tensor) -> Tensor:
    """sin θ = sqrt(1 - cos²θ), floored so its gradient stays finite at θ = 0 and π."""
    return (1.0 - c * c).clamp(min=1e-12).sqrt()


@MARGIN_HEADS.register("arcface")
class ArcFace(_Cosine):
    """ArcFace (arXiv:1801.07698): f_y = s cos(θ_y + m), 0 <= m <= π/2, with insightface's edge cases.

    Args:
        m: additive angular margin in radians.
        easy_margin: apply the margin only where cos θ_y > 0 (elsewhere f_y = s cos θ_y); the target
            then jumps back up by s sin m at θ_y = π/2, which is why insightface leaves it off.
            Otherwise, where θ_y > π - m, f_y = s (cos θ_y - m sin m) keeps the target decreasing in θ.
    """

    name = "arcface"

    def __init__(self, in_features: int, num_classes: int, *, s: float = 64.0, m: float = 0.5,
                 easy_margin: bool = False, reduction: str = "mean") -> None:
        super().__init__(in_features, num_classes, s=s, reduction=reduction)
        if not 0 <= m <= math.pi / 2:
            raise DanluError(f"ArcFace: margin m must be in [0, π/2] radians (beyond, the target logit is not "
                             f"monotonic in θ), got {m}")
        self.m, self.easy_margin = float(m), bool(easy_margin)

    def margin(self, c: Tensor) -> Tensor:
        c = c.clamp(-1.0, 1.0)
        shifted = c * math.cos(self.m) - _sin_from_cos(c) * math.sin(self.m)  # cos(θ + m)
        if self.easy_margin:
            return torch.where(c > 0, shifted, c)
        return torch.where(c > math.cos(math.pi - self.m), shifted, c - math.sin(math.pi - self.m) * self.m)


@MARGIN_HEADS.register("combined")
class CombinedMargin(_Cosine):
    """The combined margin (insightface, arXiv:1801.07698 eq. 4): f_y = s (cos(m1 θ_y + m2) - m3).

    (1, 0, 0) is NormFace, (1, m, 0) ArcFace, (1, 0, m) CosFace. With m1 = 1 the ArcFace fallback
    applies (θ_y > π - m2: cos θ_y - m2 sin m2 - m3), so any 0 <= m2 <= π/2 keeps the target decreasing;
    with m1 != 1 there is no fallback and the margin must satisfy m1 π + m2 <= π. Other margins are refused.
    """

    name = "combined"

    def __init__(self, in_features: int, num_classes: int, *, s: float = 64.0, m1: float = 1.0, m2: float = 0.3,
                 m3: float = 0.2, reduction: str = "mean") -> None:
        super().__init__(in_features, num_classes, s=s, reduction=reduction)
        ok = m1 > 0 and m2 >= 0 and m3 >= 0 and (m2 <= math.pi / 2 if m1 == 1 else m1 * math.pi + m2 <= math.pi)
        if not ok:
            raise DanluError(f"CombinedMargin: need m1 > 0, m2 >= 0, m3 >= 0 and either m1 = 1 with m2 <= π/2 or "
                             f"m1·π + m2 <= π (so the target logit decreases in θ on [0, π]), got m1={m1}, m2={m2}, "
                             f"m3={m3}")
        self.m1, self.m2, self.m3 = float(m1), float(m2), float(m3)

    def margin(self, c: Tensor) -> Tensor:
        c = c.clamp(-1.0, 1.0)
        if self.m1 == 1.0:  # cos(θ + m2) without arccos (finite gradient at θ = 0), ArcFace's fallback
            body = c * math.cos(self.m2) - _sin_from_cos(c) * math.sin(self.m2)
            body = torch.where(c > math.cos(math.pi - self.m2), body, c - math.sin(math.pi - self.m2) * self.m2)
        else:
            theta = torch.acos(c.clamp(-1.0 + 1e-7, 1.0 - 1e-7))
            body = torch.cos(self.m1 * theta + self.m2)
        return body - self.m3


def create_margin_head(name: str, in_features: int, num_classes: int, **kw: Any) -> MarginHead:
    """Build head ``name`` (see ``MARGIN_HEADS.names()``): ``lsoftmax``, ``sphereface``, ``normface``,
    ``cosface``, ``arcface``, ``combined``."""
    return MARGIN_HEADS.create(name, in_features, num_classes, **kw)
