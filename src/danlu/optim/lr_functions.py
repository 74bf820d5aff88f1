"""Learning-rate schedules as pure functions of the step: ``sched.lr_at(step, base_lr)``.

Each schedule is a small frozen dataclass whose :meth:`lr_at` returns the learning rate at
optimizer step ``step`` (0-based) for a peak/base rate ``base_lr`` (default 1.0, so one-argument
calls give the multiplier). Nothing is stateful: plotting a schedule is ``[s.lr_at(t) for t in
range(T)]``, and :class:`danlu.optim.schedules.FunctionLR` wraps any of them as a torch
``LRScheduler``. Where torch has the same schedule the closed forms below equal torch's
(tested in ``tests/optim/test_schedules.py``):

- :class:`Cosine` = ``CosineAnnealingLR`` (Loshchilov & Hutter, SGDR, arXiv:1608.03983)
- :class:`Step` / :class:`MultiStep` = ``StepLR`` / ``MultiStepLR``
- :class:`SGDR` (decay=1) = ``CosineAnnealingWarmRestarts``
- :class:`Triangular` = ``CyclicLR`` (Smith, "Cyclical Learning Rates", arXiv:1506.01186)
- :class:`OneCycle` = ``OneCycleLR`` (Smith & Topin, "Super-Convergence", arXiv:1708.07120)
- :class:`Warmup` (linear, Goyal et al. arXiv:1706.02677) + any schedule = ``SequentialLR(LinearLR, ...)``
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Protocol

from danlu.errors import DanluError


class LRFunction(Protocol):
    """Anything with ``lr_at(step, base_lr=1.0) -> float``."""

    def lr_at(self, step: int, base_lr: float = 1.0) -> float: ...


def _check_step(step: int) -> None:
    if step < 0:
        raise DanluError(f"schedule step must be non-negative, got {step}")


def _cos_anneal(start: float, end: float, pct: float) -> float:
    """Cosine interpolation from ``start`` (pct=0) to ``end`` (pct=1)."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)


@dataclass(frozen=True)
class Constant:
    """``lr = base_lr`` at every step."""

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        return base_lr


@dataclass(frozen=True)
class Linear:
    """Linear decay from ``base_lr`` at step 0 to ``end_factor * base_lr`` at ``total_steps`` (held after)."""

    total_steps: int
    end_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps <= 0:
            raise DanluError(f"linear schedule: total_steps must be positive, got {self.total_steps}")

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        pct = min(step, self.total_steps) / self.total_steps
        return base_lr * (1.0 + (self.end_factor - 1.0) * pct)


@dataclass(frozen=True)
class Cosine:
    """Half-cosine from ``base_lr`` at step 0 to ``min_lr`` at ``total_steps`` (held after).

    ``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * t / T)) / 2``.
    """

    total_steps: int
    min_lr: float = 0.0

    def __post_init__(self) -> None:
        if self.total_steps <= 0:
            raise DanluError(f"cosine schedule: total_steps must be positive, got {self.total_steps}")
        if self.min_lr < 0:
            raise DanluError(f"cosine schedule: min_lr must be non-negative, got {self.min_lr}")

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        return _cos_anneal(base_lr, self.min_lr, min(step, self.total_steps) / self.total_steps)


@dataclass(frozen=True)
class Step:
    """``lr = base_lr * gamma ** (step // step_size)``."""

    step_size: int
    gamma: float = 0.1

    def __post_init__(self) -> None:
        if self.step_size <= 0:
            raise DanluError(f"step schedule: step_size must be positive, got {self.step_size}")
        if not self.gamma > 0:
            raise DanluError(f"step schedule: gamma must be positive, got {self.gamma}")

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        return base_lr * self.gamma ** (step // self.step_size)


@dataclass(frozen=True)
class MultiStep:
    """``lr = base_lr * gamma ** (number of milestones <= step)``."""

    milestones: tuple[int, ...]
    gamma: float = 0.1

    def __post_init__(self) -> None:
        ms = tuple(int(m) for m in self.milestones)
        if list(ms) != sorted(ms) or any(m <= 0 for m in ms):
            raise DanluError(f"multistep schedule: milestones must be positive and increasing, got {self.milestones}")
        object.__setattr__(self, "milestones", ms)

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        return base_lr * self.gamma ** bisect.bisect_right(self.milestones, step)


@dataclass(frozen=True)
class SGDR:
    """Cosine annealing with warm restarts (Loshchilov & Hutter 2017, arXiv:1608.03983).

    Cycle ``i`` lasts ``T_0 * T_mult**i`` steps; inside it the rate falls by a half-cosine from
    ``base_lr * decay**i`` to ``min_lr``, then restarts. ``decay=1`` is torch's
    ``CosineAnnealingWarmRestarts``; ``decay<1`` shrinks each restart's peak.
    """

    T_0: int
    T_mult: float = 1
    min_lr: float = 0.0
    decay: float = 1.0

    def __post_init__(self) -> None:
        if self.T_0 <= 0:
            raise DanluError(f"sgdr: T_0 must be a positive number of steps, got {self.T_0}")
        if not self.T_mult >= 1:
            raise DanluError(f"sgdr: T_mult must be >= 1, got {self.T_mult}")
        if not 0 < self.decay <= 1:
            raise DanluError(f"sgdr: decay per cycle must be in (0, 1], got {self.decay}")

    def cycle(self, step: int) -> tuple[int, int, float]:
        """``(cycle index i, steps into the cycle t_cur, cycle length T_i)`` at ``step``."""
        _check_step(step)
        if self.T_mult == 1:
            return step // self.T_0, step % self.T_0, float(self.T_0)
        i = int(math.log(step / self.T_0 * (self.T_mult - 1) + 1, self.T_mult))
        start = self.T_0 * (self.T_mult**i - 1) / (self.T_mult - 1)
        if step < start:  # guard against log rounding just below an integer
            i -= 1
            start = self.T_0 * (self.T_mult**i - 1) / (self.T_mult - 1)
        return i, step - start, self.T_0 * self.T_mult**i

    def cycle_ends(self, total_steps: int) -> list[int]:
        """Steps (0-based) that end a cycle within ``total_steps``: snapshot points for ensembles."""
        ends, start, length = [], 0.0, float(self.T_0)
        while start + length <= total_steps:
            ends.append(int(round(start + length)) - 1)
            start, length = start + length, length * self.T_mult
        return ends

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        i, t_cur, t_i = self.cycle(step)
        return _cos_anneal(base_lr * self.decay**i, self.min_lr, t_cur / t_i)


@dataclass(frozen=True)
class Triangular:
    """Triangular cyclical LR (Smith 2017, arXiv:1506.01186): ``min_lr`` -> ``base_lr`` -> ``min_lr``.

    Up for ``step_size_up`` steps, down for ``step_size_down`` (default: same). ``mode="triangular2"``
    halves the amplitude every cycle. Equals torch ``CyclicLR(base_lr=min_lr, max_lr=base_lr)``.
    """

    step_size_up: int
    step_size_down: int | None = None
    min_lr: float = 0.0
    mode: str = "triangular"

    def __post_init__(self) -> None:
        if self.step_size_up <= 0 or (self.step_size_down is not None and self.step_size_down <= 0):
            raise DanluError(f"triangular: step sizes must be positive, got up={self.step_size_up}, "
                             f"down={self.step_size_down}")
        if self.mode not in ("triangular", "triangular2"):
            raise DanluError(f"triangular: unknown mode {self.mode!r}; valid: triangular, triangular2")

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        up = float(self.step_size_up)
        down = float(self.step_size_down if self.step_size_down is not None else self.step_size_up)
        total, ratio = up + down, up / (up + down)
        cycle = math.floor(1 + step / total)
        x = 1.0 + step / total - cycle
        scale = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
        amp = 1.0 if self.mode == "triangular" else 1 / 2.0 ** (cycle - 1)
        return self.min_lr + (base_lr - self.min_lr) * scale * amp


@dataclass(frozen=True)
class OneCycle:
    """One-cycle policy (Smith & Topin 2017, arXiv:1708.07120) with cosine phases, as torch's ``OneCycleLR``.

    Rises from ``base_lr / div_factor`` to ``base_lr`` over the first ``pct_start`` of the run, then
    anneals to ``base_lr / div_factor / final_div_factor`` at step ``total_steps - 1``.
    """

    total_steps: int
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4

    def __post_init__(self) -> None:
        if self.total_steps <= 1:
            raise DanluError(f"onecycle: total_steps must be > 1, got {self.total_steps}")
        if not 0 < self.pct_start < 1:
            raise DanluError(f"onecycle: pct_start must be in (0, 1), got {self.pct_start}")

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        initial = base_lr / self.div_factor
        final = initial / self.final_div_factor
        peak_step = float(self.pct_start * self.total_steps) - 1
        if step <= peak_step:
            return _cos_anneal(initial, base_lr, step / peak_step)
        return _cos_anneal(base_lr, final, (step - peak_step) / (self.total_steps - 1 - peak_step))


@dataclass(frozen=True)
class Warmup:
    """Linear warmup for ``warmup_steps``, then ``after`` restarted at step 0 (composable with any schedule).

    ``lr = base_lr * (start_factor + (1 - start_factor) * t / W)`` for ``t < W``, then
    ``after.lr_at(t - W)``; equals torch ``SequentialLR([LinearLR(start_factor, total_iters=W), after],
    milestones=[W])``. Build ``after`` over the remaining ``total_steps - W`` steps.
    """

    warmup_steps: int
    after: LRFunction = field(default_factory=Constant)
    start_factor: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps <= 0:
            raise DanluError(f"warmup_steps must be positive, got {self.warmup_steps}")
        if not 0 <= self.start_factor <= 1:
            raise DanluError(f"warmup start_factor must be in [0, 1], got {self.start_factor}")

    def lr_at(self, step: int, base_lr: float = 1.0) -> float:
        _check_step(step)
        if step < self.warmup_steps:
            return base_lr * (self.start_factor + (1 - self.start_factor) * step / self.warmup_steps)
        return self.after.lr_at(step - self.warmup_steps, base_lr)


def radam_rectification(step: int, beta2: float = 0.999) -> float | None:
    """RAdam's variance rectification term ``r_t`` (Liu et al. 2020, arXiv:1908.03265, Alg. 2).

    ``rho_inf = 2/(1-beta2) - 1``; ``rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)`` for step
    ``t >= 1``. Returns ``None`` while ``rho_t <= 5`` (torch's RAdam then takes an un-adapted SGD-with-
    momentum step) and ``sqrt((rho_t-4)(rho_t-2) rho_inf / ((rho_inf-4)(rho_inf-2) rho_t))`` after.
    It rises from ~0 towards 1: an automatic warmup of Adam's adaptive step.
    """
    if step < 1:
        raise DanluError(f"radam_rectification: step must be >= 1, got {step}")
    if not 0 < beta2 < 1:
        raise DanluError(f"radam_rectification: beta2 must be in (0, 1), got {beta2}")
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    b2t = beta2**step
    rho_t = rho_inf - 2.0 * step * b2t / (1.0 - b2t)
    if rho_t <= 5.0:
        return None
    return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
