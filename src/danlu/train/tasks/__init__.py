"""Tasks: what differs between kinds of model (``task.name`` in a config), in the registry ``TASKS``.

    >>> from danlu.train.tasks import TASKS, create_task
    >>> {"classification", "gan", "token_classification"} <= set(TASKS.names())
    True
    >>> create_task("gan", {"n_critic": 3}).args.n_critic
    3

====================  ==================================================================
classification        logits = model(x), a registered loss, accuracy-style metrics (default)
gan                   generator + critic on 2-D data, two optimizers, an n_critic schedule
token_classification  logits (B, T, C) per position, -100 unlabelled (tiny language models)
====================  ==================================================================

The interface is :class:`~danlu.train.tasks.base.Task`; the engine that runs every task is
:mod:`danlu.train.engine`. A task is one module in this package, discovered automatically (drop a
module that registers a ``Task`` subclass; nothing else to edit).
"""

from __future__ import annotations

from typing import Any

from danlu.registry import Registry


def _load() -> None:
    """Import every task module of this package (their decorators fill :data:`TASKS`)."""
    import importlib
    import pkgutil

    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("base",) and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")


#: name -> Task subclass; filled on first lookup.
TASKS: Registry = Registry("task", loader=_load)

from danlu.train.tasks.base import (  # noqa: E402
    Context,
    NoArgs,
    Optimization,
    StepOutput,
    Task,
    args_dict,
    parse_args,
)


def list_tasks() -> list[str]:
    """Registered task names, sorted."""
    return sorted(TASKS.names())


def create_task(name: str, args: dict[str, Any] | None = None) -> Task:
    """Task ``name`` with ``args`` (checked against its ``Args``; unknown names list the valid ones)."""
    cls = TASKS.get(name)
    return cls(parse_args(cls, args))


__all__ = ["TASKS", "Context", "NoArgs", "Optimization", "StepOutput", "Task", "args_dict", "create_task",
           "list_tasks", "parse_args"]
