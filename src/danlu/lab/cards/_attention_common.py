"""Shared pieces of the attention cards' cost measurements: a load-independent clock and log-log slopes.

Why a CPU-time clock: on a shared machine a long call is preempted more often than a short one, so
wall time grows faster than the work and bends log-log slopes and ratios (att-complexity was held
with the machine idle and not held while a second lab ran beside it). The CPU time of the calling
thread, with torch limited to that one thread, counts only this process's work. With more torch
threads the process's CPU time also counts OpenMP workers spinning while they wait, which grows
with machine load, so the cost cards time their calls inside :func:`danlu.lab.threads.one_thread`. On a GPU the clock
is synchronized wall time.

The attention cards also run *all* their work single-threaded (:func:`danlu.lab.threads.single_threaded`): their
tensors are small, so a second torch thread only adds synchronization, and with another process
on the machine its workers spin (att-quality's quick run took about 10x the CPU time with two
threads on a loaded 2-core machine). Their verdicts therefore do not depend on the runner's thread
count; the count is restored afterwards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def seconds(fn: Callable[[], Any], device: torch.device) -> float:
    """Seconds of one call of ``fn()``: thread CPU time on a CPU device, synchronized wall time on a GPU."""
    clock = time.thread_time if device.type == "cpu" else time.perf_counter
    _sync(device)
    t0 = clock()
    fn()
    _sync(device)
    return clock() - t0


def best_of(fn: Callable[[], Any], device: torch.device, calls: int) -> float:
    """The fastest of ``calls`` back-to-back calls (interference only adds time)."""
    return min(seconds(fn, device) for _ in range(max(1, calls)))


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(ys) on log(xs)."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-12)) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)
