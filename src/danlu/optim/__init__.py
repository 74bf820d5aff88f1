"""Optimizer factory and LR schedules (registries filled by the modules of this package).

Contract used by the Trainer and the cards:

- ``OPTIMIZERS``: name -> ``fn(param_groups, *, lr, weight_decay, **kw) -> torch.optim.Optimizer``
- ``create_optimizer(name, model_or_params, *, lr, weight_decay=0.0, **kw)``
- ``SCHEDULES``: name -> ``fn(optimizer, *, total_steps, **kw) -> torch.optim.lr_scheduler.LRScheduler``
- ``create_schedule(name, optimizer, *, total_steps, **kw)``
"""

from __future__ import annotations

from danlu.optim.factory import OPTIMIZERS, create_optimizer, param_groups
from danlu.optim.schedules import SCHEDULES, create_schedule

__all__ = ["OPTIMIZERS", "SCHEDULES", "create_optimizer", "create_schedule", "param_groups"]
