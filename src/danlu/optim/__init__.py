"""Optimizer factory and LR schedules (registries filled by the modules of this package).

Contract used by the Trainer and the cards:

- ``OPTIMIZERS``: name -> ``fn(param_groups, *, lr, weight_decay, **kw) -> torch.optim.Optimizer``
- ``create_optimizer(name, model_or_params, *, lr, weight_decay=0.0, **kw)``
- ``SCHEDULES``: name -> ``fn(optimizer, *, total_steps, **kw) -> torch.optim.lr_scheduler.LRScheduler``
- ``create_schedule(name, optimizer, *, total_steps, warmup_steps=0, **kw)``
- ``make_lr_function(name, *, total_steps, warmup_steps=0, **kw).lr_at(step, base_lr)`` (pure, for plots)
"""

from __future__ import annotations

from danlu.optim.factory import OPTIMIZERS, create_optimizer, param_groups
from danlu.optim.lr_functions import radam_rectification
from danlu.optim.schedules import LR_FUNCTIONS, SCHEDULES, FunctionLR, create_schedule, make_lr_function

__all__ = ["LR_FUNCTIONS", "OPTIMIZERS", "SCHEDULES", "FunctionLR", "create_optimizer", "create_schedule",
           "make_lr_function", "param_groups", "radam_rectification"]
