"""LR schedules as torch ``LRScheduler`` objects built from the pure functions in ``lr_functions``.

Two registries:

- ``LR_FUNCTIONS``: name -> ``builder(*, total_steps, **kw) -> LRFunction`` (pure ``lr_at(step)``),
- ``SCHEDULES``: name -> ``fn(optimizer, *, total_steps, **kw) -> LRScheduler`` (the Trainer's contract);
  every ``LR_FUNCTIONS`` entry is also a ``SCHEDULES`` entry through :class:`FunctionLR`.

``create_schedule(name, opt, total_steps=T, warmup_steps=W)`` composes a linear warmup with any
of them: the named schedule then runs over the remaining ``T - W`` steps.

    >>> import torch
    >>> from danlu.optim import create_schedule, make_lr_function
    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> sched = create_schedule("cosine", opt, total_steps=100, warmup_steps=10)
    >>> round(make_lr_function("cosine", total_steps=100, warmup_steps=10).lr_at(5, 0.1), 4)
    0.05
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import LRScheduler

from danlu.errors import DanluError
from danlu.optim import lr_functions as F
from danlu.registry import Registry

SCHEDULES: Registry = Registry("schedule")
LR_FUNCTIONS: Registry[Callable[..., F.LRFunction]] = Registry("schedule")


class FunctionLR(LRScheduler):
    """A torch LR scheduler whose rate at step ``t`` is ``fn.lr_at(t, base_lr)`` for each param group.

    Call ``step()`` once per optimizer step. The schedule is a pure function, so resuming from
    ``state_dict()`` (which stores ``last_epoch``) lands on exactly the same rate.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, fn: F.LRFunction, last_epoch: int = -1) -> None:
        self.fn = fn
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:  # type: ignore[override]
        return [self.fn.lr_at(self.last_epoch, base) for base in self.base_lrs]

    def _get_closed_form_lr(self) -> list[float]:
        return self.get_lr()


def _register(name: str, builder: Callable[..., F.LRFunction]) -> None:
    LR_FUNCTIONS.add(name, builder)

    def make(optimizer: torch.optim.Optimizer, *, total_steps: int, **kw: Any) -> LRScheduler:
        return FunctionLR(optimizer, builder(total_steps=total_steps, **kw))

    make.__doc__ = f"Schedule {name!r} as a torch LRScheduler (see danlu.optim.lr_functions)."
    SCHEDULES.add(name, make)


_register("constant", lambda *, total_steps: F.Constant())
_register("linear", lambda *, total_steps, end_factor=0.0: F.Linear(total_steps, end_factor))
_register("cosine", lambda *, total_steps, min_lr=0.0: F.Cosine(total_steps, min_lr))
_register("step", lambda *, total_steps, step_size, gamma=0.1: F.Step(step_size, gamma))
_register("multistep", lambda *, total_steps, milestones, gamma=0.1: F.MultiStep(tuple(milestones), gamma))
_register("sgdr", lambda *, total_steps, T_0, T_mult=1, min_lr=0.0, decay=1.0: F.SGDR(T_0, T_mult, min_lr, decay))
_register("triangular", lambda *, total_steps, step_size_up, step_size_down=None, min_lr=0.0, mode="triangular":
          F.Triangular(step_size_up, step_size_down, min_lr, mode))
_register("onecycle", lambda *, total_steps, pct_start=0.3, div_factor=25.0, final_div_factor=1e4:
          F.OneCycle(total_steps, pct_start, div_factor, final_div_factor))


def _check_total(total_steps: int, warmup_steps: int) -> None:
    if not isinstance(total_steps, int) or total_steps <= 0:
        raise DanluError(f"total_steps must be a positive integer, got {total_steps!r}")
    if warmup_steps < 0:
        raise DanluError(f"warmup_steps must be non-negative, got {warmup_steps}")
    if warmup_steps >= total_steps:
        raise DanluError(f"warmup_steps ({warmup_steps}) must be shorter than the run (total_steps={total_steps})")


def make_lr_function(name: str, *, total_steps: int, warmup_steps: int = 0, warmup_start_factor: float = 0.0,
                     **kw: Any) -> F.LRFunction:
    """The pure schedule ``name`` (``LR_FUNCTIONS.names()``), optionally behind a linear warmup.

    Args:
        name: schedule name.
        total_steps: optimizer steps in the whole run (warmup included).
        warmup_steps: linear warmup length; the named schedule runs over ``total_steps - warmup_steps``.
        warmup_start_factor: warmup starts at ``warmup_start_factor * base_lr``.
        **kw: the schedule's own parameters (``min_lr``, ``T_0``, ``milestones``, ...).
    """
    _check_total(total_steps, warmup_steps)
    builder = LR_FUNCTIONS.get(name)
    try:
        fn = builder(total_steps=total_steps - warmup_steps, **kw)
    except TypeError as exc:
        raise DanluError(f"schedule {name!r}: bad arguments {sorted(kw)} ({exc})") from None
    if warmup_steps:
        fn = F.Warmup(warmup_steps, fn, warmup_start_factor)
    return fn


def create_schedule(name: str, optimizer: torch.optim.Optimizer, *, total_steps: int, warmup_steps: int = 0,
                    warmup_start_factor: float = 0.0, **kw: Any) -> LRScheduler:
    """Build schedule ``name`` stepping once per optimizer step over ``total_steps`` (warmup included)."""
    _check_total(total_steps, warmup_steps)
    if name in LR_FUNCTIONS:
        return FunctionLR(optimizer, make_lr_function(name, total_steps=total_steps, warmup_steps=warmup_steps,
                                                      warmup_start_factor=warmup_start_factor, **kw))
    factory = SCHEDULES.get(name)  # unknown names raise here with the registered names listed
    if warmup_steps:
        raise DanluError(f"schedule {name!r} is not a pure lr function; warmup cannot be composed with it")
    return factory(optimizer, total_steps=total_steps, **kw)
