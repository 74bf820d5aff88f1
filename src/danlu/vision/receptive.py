"""Receptive fields of conv nets, analytic and empirical, and the hybrid-dilated-convolution rule.

* :func:`receptive_field(model, input_shape)`: the receptive field of the model's output feature
  map, computed analytically while the model runs once (every torch op is seen through a
  ``TorchFunctionMode``): per spatial axis, a feature at index ``i`` sees input pixels
  ``start + i*jump .. start + i*jump + size - 1``. A conv or pool with kernel ``k``, dilation ``d``,
  stride ``s``, padding ``p`` maps ``(size, jump, start)`` to ``(size + d*(k-1)*jump, jump*s,
  start - p*jump)`` (Araujo et al., "Computing Receptive Fields of Convolutional Neural Networks",
  Distill 2019); ops that keep the spatial shape (norms, activations, ``+``, channel ``cat``)
  take the union of their inputs' fields, so residual branches are handled.
* :func:`empirical_receptive_field`: the footprint of the input gradient of one output pixel (a
  unit impulse backpropagated), united over random inputs; its extent equals the analytic size,
  and its holes show gridding.
* :func:`hdc_check(dilations, kernel_size)`: Wang et al., "Understanding Convolution for Semantic
  Segmentation" (HDC), arXiv:1702.08502: ``M_n = r_n``, ``M_i = max(M_{i+1} - 2 r_i,
  M_{i+1} - 2 (M_{i+1} - r_i), r_i)``, the design goal ``M_2 <= K``, and no common factor > 1
  among the rates; plus the exact 1-D footprint of the stack, whose holes are the gridding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from danlu.errors import DanluError

__all__ = ["HDCReport", "ReceptiveField", "dilated_footprint", "empirical_receptive_field", "hdc_check",
           "receptive_field"]


@dataclass(frozen=True)
class Axis:
    """One spatial axis: output index i sees input ``start + i*jump .. start + i*jump + size - 1``."""

    size: int
    jump: int
    start: int

    def after(self, k: int, s: int, p: int, d: int) -> Axis:
        return Axis(self.size + d * (k - 1) * self.jump, self.jump * s, self.start - p * self.jump)

    def union(self, other: Axis) -> Axis:
        if other.jump != self.jump:
            raise DanluError(f"receptive_field: branches with different strides ({self.jump} vs {other.jump}) meet")
        start = min(self.start, other.start)
        end = max(self.start + self.size, other.start + other.size)
        return Axis(end - start, self.jump, start)


@dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of a feature map: ``size``, ``jump`` (stride in input pixels) and ``start`` per axis (h, w)."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]
    output_shape: tuple[int, ...]

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        """Input rows and columns seen by output pixel (i, j) (may extend past the border into padding)."""
        return (slice(self.start[0] + i * self.jump[0], self.start[0] + i * self.jump[0] + self.size[0]),
                slice(self.start[1] + j * self.jump[1], self.start[1] + j * self.jump[1] + self.size[1]))


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _arg(args: tuple, kwargs: dict, i: int, name: str, default: Any) -> Any:
    return args[i] if len(args) > i else kwargs.get(name, default)


def _conv(args: tuple, kw: dict) -> tuple[tuple[int, int], ...]:
    k = tuple(args[1].shape[-2:])
    return k, _pair(_arg(args, kw, 3, "stride", 1)), _pair(_arg(args, kw, 4, "padding", 0)), \
        _pair(_arg(args, kw, 5, "dilation", 1))


def _pool(args: tuple, kw: dict, has_dilation: bool) -> tuple[tuple[int, int], ...]:
    k = _pair(_arg(args, kw, 1, "kernel_size", None))
    s = _arg(args, kw, 2, "stride", None)
    s = k if s is None or (not isinstance(s, int) and len(s) == 0) else _pair(s)
    d = _pair(_arg(args, kw, 4, "dilation", 1)) if has_dilation else (1, 1)
    return k, s, _pair(_arg(args, kw, 3, "padding", 0)), d


_GEOMETRY = {
    F.conv2d: _conv, torch.conv2d: _conv,
    F.max_pool2d: lambda a, k: _pool(a, k, True), torch.max_pool2d: lambda a, k: _pool(a, k, True),
    F.avg_pool2d: lambda a, k: _pool(a, k, False), torch._C._nn.avg_pool2d: lambda a, k: _pool(a, k, False),
}
_GEOMETRY[F.max_pool2d_with_indices] = lambda a, k: _pool(a, k, True)  # max_pool2d(return_indices=True)


def _tensors(obj: Any) -> list[Tensor]:
    if isinstance(obj, Tensor):
        return [obj]
    if isinstance(obj, (list, tuple)):
        return [t for o in obj for t in _tensors(o)]
    if isinstance(obj, dict):
        return [t for o in obj.values() for t in _tensors(o)]
    return []


class _Tracker(TorchFunctionMode):
    """Propagates (Axis, Axis) through every op on tensors derived from the input."""

    def __init__(self, x: Tensor) -> None:
        super().__init__()
        self.geo: dict[int, tuple[Axis, Axis]] = {id(x): (Axis(1, 1, 0), Axis(1, 1, 0))}
        self.keep: list[Tensor] = [x]  # keeps ids unique while tracing

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        ins = [t for t in _tensors((args, kwargs)) if id(t) in self.geo]
        if not ins:
            return out
        name = getattr(func, "__name__", str(func))
        first = ins[0]
        if func in _GEOMETRY:
            k, s, p, d = _GEOMETRY[func](args, kwargs)
            gh, gw = self.geo[id(first)]
            g = (gh.after(k[0], s[0], p[0], d[0]), gw.after(k[1], s[1], p[1], d[1]))
        else:
            shapes = {tuple(t.shape[-2:]) for t in ins if t.dim() >= 3}
            outs = [t for t in _tensors(out) if t.dim() >= 3]
            if not outs:
                return out  # sizes, scalars, reductions to vectors: no spatial map to follow
            if len(shapes) != 1 or any(tuple(t.shape[-2:]) not in shapes for t in outs):
                raise DanluError(f"receptive_field: op {name!r} changes the spatial shape in a way danlu does not "
                                 "model (supported: conv2d, max/avg pooling and shape-keeping ops); pass the "
                                 "convolutional part of the model")
            gh, gw = self.geo[id(first)]
            for t in ins[1:]:
                th, tw = self.geo[id(t)]
                gh, gw = gh.union(th), gw.union(tw)
            g = (gh, gw)
        for t in _tensors(out):
            self.geo[id(t)] = g
            self.keep.append(t)
        return out


def _as_shape(input_shape: Sequence[int]) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in (3, 4) or any(s < 1 for s in shape):
        raise DanluError(f"input_shape must be (C, H, W) or (B, C, H, W) with positive sizes, got {tuple(input_shape)}")
    return shape if len(shape) == 4 else (1, *shape)


def _run(model: nn.Module, x: Tensor) -> Tensor:
    try:
        return model(x)
    except DanluError:
        raise
    except RuntimeError as exc:
        raise DanluError(f"input of shape {tuple(x.shape)} does not fit the model (smaller than its receptive field "
                         f"or a pooling window?): {str(exc).splitlines()[0]}") from None


@torch.no_grad()
def receptive_field(model: nn.Module, input_shape: Sequence[int]) -> ReceptiveField:
    """Analytic receptive field of ``model``'s output feature map (B, C', H', W') for ``input_shape``.

    ``input_shape`` is (C, H, W) or (B, C, H, W). The model runs once in eval mode on zeros; its
    output must be a 4-D feature map (pass ``model.features`` rather than a classifier).
    """
    shape = _as_shape(input_shape)
    x = torch.zeros(shape, dtype=next(iter(model.parameters()), torch.zeros(())).dtype)
    was = model.training
    model.eval()
    tracker = _Tracker(x)
    try:
        with tracker:
            out = _run(model, x)
    finally:
        model.train(was)
    if not isinstance(out, Tensor) or out.dim() != 4 or id(out) not in tracker.geo:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise DanluError(f"receptive_field: the model must output a feature map (B, C, H, W), got {got}")
    gh, gw = tracker.geo[id(out)]
    if shape[2] < gh.size or shape[3] < gw.size:
        raise DanluError(f"input {shape[2]}x{shape[3]} is smaller than the model's receptive field "
                         f"{gh.size}x{gw.size}")
    return ReceptiveField((gh.size, gw.size), (gh.jump, gw.jump), (gh.start, gw.start), tuple(out.shape))


def empirical_receptive_field(model: nn.Module, input_shape: Sequence[int], *, at: tuple[int, int] | None = None,
                              trials: int = 8, seed: int = 0) -> tuple[Tensor, tuple[int, int]]:
    """Input-gradient footprint (H, W) bool of output pixel ``at`` (default: the centre) and its extent.

    The gradient of ``sum_c out[b, c, i, j]`` w.r.t. the input is taken for ``trials`` random
    inputs (float64, eval mode); the footprint is where any of them is non-zero, so a max-pool or a
    ReLU that blocks one input does not hide a pixel. Returns ``(footprint, (rows, cols))`` where
    the extent is the size of the footprint's bounding box.
    """
    shape = _as_shape(input_shape)
    g = torch.Generator().manual_seed(seed)
    m = _float64_copy(model)
    x = torch.randn((trials, *shape[1:]), generator=g, dtype=torch.float64, requires_grad=True)
    out = _run(m, x)
    if out.dim() != 4:
        raise DanluError(f"empirical_receptive_field: the model must output (B, C, H, W), got {tuple(out.shape)}")
    i, j = at if at is not None else (out.shape[2] // 2, out.shape[3] // 2)
    out[:, :, i, j].sum().backward()
    foot = (x.grad != 0).any(0).any(0)  # (H, W)
    rows = torch.nonzero(foot.any(1)).flatten()
    cols = torch.nonzero(foot.any(0)).flatten()
    if len(rows) == 0:
        return foot, (0, 0)
    return foot, (int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))


def _float64_copy(model: nn.Module) -> nn.Module:
    import copy

    m = copy.deepcopy(model).double().eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def dilated_footprint(dilations: Sequence[int], kernel_size: int = 3) -> Tensor:
    """1-D footprint of a stack of dilated convs: bool (L,), True at input offsets that reach the centre output.

    The Minkowski sum of each layer's taps ``{-r*(k//2), ..., 0, ..., r*(k//2)}`` (step r);
    ``L = 1 + sum_i r_i*(k-1)``. A False inside is a hole: gridding.
    """
    _check_rates(dilations, kernel_size)
    reach = torch.ones(1)
    for r in dilations:
        tap = torch.zeros(r * (kernel_size - 1) + 1)
        tap[::r] = 1
        reach = torch.conv1d(reach.view(1, 1, -1), tap.view(1, 1, -1), padding=len(tap) - 1).flatten()
    return reach > 0


@dataclass(frozen=True)
class HDCReport:
    """What :func:`hdc_check` found: the M values, the rule's verdict and the footprint's holes."""

    dilations: tuple[int, ...]
    kernel_size: int
    m: tuple[int, ...]
    gcd: int
    satisfies_hdc: bool
    holes: int
    footprint: Tensor

    @property
    def gridding(self) -> bool:
        """The stack leaves input pixels inside its field that never reach the output."""
        return self.holes > 0


def _check_rates(dilations: Sequence[int], kernel_size: int) -> None:
    if not dilations or any(not isinstance(r, int) or r < 1 for r in dilations):
        raise DanluError(f"dilations must be a non-empty sequence of positive integers, got {list(dilations)}")
    if kernel_size < 2:
        raise DanluError(f"kernel_size must be >= 2, got {kernel_size}")


def hdc_check(dilations: Sequence[int], kernel_size: int = 3) -> HDCReport:
    """Check a dilation sequence against the HDC rule (arXiv:1702.08502) and find its gridding holes.

    ``satisfies_hdc`` = ``M_2 <= kernel_size`` and ``gcd(rates) == 1``; ``holes`` counts the
    missing offsets inside the stack's 1-D footprint (exact, :func:`dilated_footprint`).
    """
    _check_rates(dilations, kernel_size)
    rates = tuple(int(r) for r in dilations)
    m = [rates[-1]]
    for r in reversed(rates[:-1]):
        nxt = m[0]
        m.insert(0, max(nxt - 2 * r, nxt - 2 * (nxt - r), r))
    gcd = math.gcd(*rates)
    m2 = m[1] if len(m) > 1 else m[0]
    foot = dilated_footprint(rates, kernel_size)
    return HDCReport(rates, kernel_size, tuple(m), gcd, m2 <= kernel_size and gcd == 1, int((~foot).sum()), foot)
