"""Feature maps φ for linear attention, in the registry :data:`FEATURE_MAPS`.

Each entry is a factory ``factory(head_dim, **kw) -> callable(x (..., D)) -> (..., Dk)``:

* ``elu1``: ``elu(x) + 1`` (Katharopoulos et al., arXiv:2006.16236), positive, Dk = D.
* ``relu``: ``relu(x)``, non-negative (zero rows possible: they attend to nothing -> zeros).
* ``identity``: ``x`` (unnormalized linear attention; the normalizer can vanish or change sign).
* ``performer``: positive random features of the softmax kernel, FAVOR+ (Choromanski et al.,
  "Rethinking Attention with Performers", arXiv:2009.14794):
  ``φ(x) = exp(ω x' - |x'|²/2) / sqrt(m)`` with ``x' = x · D^{-1/4}``, so that
  ``E[φ(q)·φ(k)] = exp(q·k / sqrt(D))``. ``ω`` (m, D) rows are Gaussian, optionally block-orthogonal.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from danlu.errors import DanluError
from danlu.registry import Registry

FeatureMap = Callable[[torch.Tensor], torch.Tensor]
FEATURE_MAPS: Registry[Callable[..., FeatureMap]] = Registry("feature map")


def elu1(x: torch.Tensor) -> torch.Tensor:
    """``elu(x) + 1`` (positive)."""
    return F.elu(x) + 1


def relu(x: torch.Tensor) -> torch.Tensor:
    return F.relu(x)


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


FEATURE_MAPS.add("elu1", lambda head_dim=None, **kw: elu1)
FEATURE_MAPS.add("relu", lambda head_dim=None, **kw: relu)
FEATURE_MAPS.add("identity", lambda head_dim=None, **kw: identity)


def gaussian_projection(num_features: int, dim: int, *, orthogonal: bool = True,
                        generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                        device: torch.device | str | None = None) -> torch.Tensor:
    """Random projection ω (num_features, dim) for FAVOR+.

    ``orthogonal=True`` stacks blocks of ``dim`` exactly orthogonal rows (QR of a Gaussian matrix),
    each row rescaled to the norm of an independent Gaussian vector so every row is marginally
    N(0, I) (Performer's "regularized" ORF, arXiv:2009.14794 §2.4). ``False`` gives iid rows.
    """
    if num_features < 1 or dim < 1:
        raise DanluError(f"gaussian_projection: num_features and dim must be >= 1, got {num_features}, {dim}")
    if not orthogonal:
        return torch.randn(num_features, dim, generator=generator, dtype=torch.float64).to(dtype=dtype, device=device)
    blocks = []
    for _ in range(-(-num_features // dim)):
        g = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        qm, r = torch.linalg.qr(g)                                                # (dim, dim) orthogonal
        qm = qm * torch.sign(torch.diagonal(r))[None, :]                          # Haar-distributed (sign fix)
        blocks.append(qm.T)
    w = torch.cat(blocks, 0)[:num_features]                                       # (m, dim) unit rows
    norms = torch.randn(num_features, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return (w * norms[:, None]).to(dtype=dtype, device=device)


def performer_features(x: torch.Tensor, projection: torch.Tensor, *, stabilizer: torch.Tensor | None = None,
                       ) -> torch.Tensor:
    """FAVOR+ positive features: x (..., D), projection (m, D) -> (..., m).

    ``stabilizer`` (broadcastable to (..., 1)) is subtracted inside the exponent; under the
    normalized attention it cancels as long as it is the same for all keys (or per query row).
    """
    if x.shape[-1] != projection.shape[-1]:
        raise DanluError(f"performer_features: x of shape {tuple(x.shape)} does not match projection "
                         f"{tuple(projection.shape)} in the last dim")
    d = x.shape[-1]
    xs = x * d ** -0.25
    wx = torch.matmul(xs, projection.to(xs.dtype).T)                              # (..., m)
    expo = wx - 0.5 * (xs * xs).sum(-1, keepdim=True)
    if stabilizer is not None:
        expo = expo - stabilizer
    return torch.exp(expo) / math.sqrt(projection.shape[0])


class PerformerFeatureMap(nn.Module):
    """FAVOR+ feature map with its projection as a buffer; :meth:`redraw` draws a new one.

    Args:
        head_dim: D of the inputs.
        num_features: m; default ``max(head_dim, round(head_dim * log(head_dim)))`` (the paper's d log d).
        orthogonal: block-orthogonal rows (lower variance) or iid Gaussian rows.
        seed: seed of the first draw (None: torch's global generator).
    """

    def __init__(self, head_dim: int, num_features: int | None = None, orthogonal: bool = True,
                 seed: int | None = 0, device: torch.device | str | None = None,
                 dtype: torch.dtype | None = None) -> None:
        super().__init__()
        if num_features is None:
            num_features = max(head_dim, int(round(head_dim * math.log(max(head_dim, 2)))))
        self.head_dim, self.num_features, self.orthogonal = head_dim, num_features, orthogonal
        self._gen = torch.Generator().manual_seed(seed) if seed is not None else None
        w = gaussian_projection(num_features, head_dim, orthogonal=orthogonal, generator=self._gen,
                                dtype=dtype or torch.float32, device=device)
        self.register_buffer("projection", w)

    @torch.no_grad()
    def redraw(self) -> None:
        """Draw a fresh projection (same shape, device, dtype)."""
        w = gaussian_projection(self.num_features, self.head_dim, orthogonal=self.orthogonal, generator=self._gen,
                                dtype=self.projection.dtype, device=self.projection.device)
        self.projection.copy_(w)

    def forward(self, x: torch.Tensor, stabilizer: torch.Tensor | None = None) -> torch.Tensor:
        return performer_features(x, self.projection, stabilizer=stabilizer)


@FEATURE_MAPS.register("performer")
def _performer_factory(head_dim: int | None = None, **kw) -> FeatureMap:
    if head_dim is None:
        raise DanluError("feature map 'performer' needs the head dim to draw its projection")
    return PerformerFeatureMap(head_dim, **kw)


def make_feature_map(feature_map: str | FeatureMap, head_dim: int | None = None, **kw) -> FeatureMap:
    """A callable φ from a registered name (see :data:`FEATURE_MAPS`) or pass a callable through."""
    if callable(feature_map):
        return feature_map
    return FEATURE_MAPS.get(feature_map)(head_dim, **kw)
