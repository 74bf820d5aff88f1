"""Tasks: what differs between kinds of model (``task.name`` in a config), in the registry ``TASKS``.

    >>> from danlu.train.tasks import TASKS, create_task
    >>> sorted(TASKS.names())
    ['classification', 'gan', 'token_classification']
    >>> create_task("gan", {"n_critic": 3}).args.n_critic
    3

====================  ==================================================================
classification        logits = model(x), a registered loss, accuracy-style metrics (default)
gan                   generator + critic on 2-D data, two optimizers, an n_critic schedule
token_classification  logits (B, T, C) per position, -100 unlabelled (tiny language models)
====================  ==================================================================

The interface is :class:`~danlu.train.tasks.base.Task`; the engine that runs every task is
:mod:`danlu.train.engine`. seq2seq, detection, segmentation and an adversarial wrapper arrive with
the issues that need them (docs/train.md says how each fits).
"""

from __future__ import annotations

from typing import Any

from danlu.registry import Registry

#: name -> Task subclass
TASKS: Registry = Registry("task")

from danlu.train.tasks.base import (  # noqa: E402
    Context,
    NoArgs,
    Optimization,
    StepOutput,
    Task,
    args_dict,
    parse_args,
)

# Importing these modules fills TASKS.
from danlu.train.tasks import classification as _classification  # noqa: E402,F401  isort: skip
from danlu.train.tasks import gan as _gan  # noqa: E402,F401  isort: skip
from danlu.train.tasks import token_classification as _token  # noqa: E402,F401  isort: skip


def list_tasks() -> list[str]:
    """Registered task names, sorted."""
    return sorted(TASKS.names())


def create_task(name: str, args: dict[str, Any] | None = None) -> Task:
    """Task ``name`` with ``args`` (checked against its ``Args``; unknown names list the valid ones)."""
    cls = TASKS.get(name)
    return cls(parse_args(cls, args))


__all__ = ["TASKS", "Context", "NoArgs", "Optimization", "StepOutput", "Task", "args_dict", "create_task",
           "list_tasks", "parse_args"]
