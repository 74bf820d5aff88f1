"""CPU thread set-up for the lab: how many torch threads, and OpenMP workers that wait passively.

Why this exists. torch's pip wheels on Linux run their CPU ops on GNU OpenMP (libgomp). By
default an idle libgomp worker *spins* (busy-waits, up to ~300,000 iterations) before it sleeps,
and torch starts as many workers as the process may use cores. Lab cards run many tiny ops, so
workers are idle between ops most of the time. Alone on a machine that is harmless; with two labs
(or a lab and any other busy process) on the same cores, every spinning worker steals the core a
working thread needs, and the run slows down far more than the 2x that sharing costs.

What :func:`prepare` does, before torch is imported (libgomp reads its environment once, when it
is loaded): ``OMP_WAIT_POLICY=PASSIVE`` (idle workers sleep at once), and the same thread count
for the BLAS libraries numpy and torch load (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``). A variable the user set is left as they set it. :func:`apply` then
sets torch's intra-op thread count.

The default is ONE thread, whatever the machine: the lab's models are too small to gain from
more (see the table), a verdict must not depend on the machine's core count, and two labs on one
machine then share it without oversubscribing it. Cards that run many tiny ops (tr-gn's 7,680
batch-2 steps) took 5-9x longer with 2 passive threads on a lightly loaded 2-core machine.
``--threads N`` (or ``OMP_NUM_THREADS``) chooses otherwise, e.g. for sys-hw's matmul ceiling. Measured (2-core VM shared with other jobs, load average
10-14, so ratios only; four quick cards tr-relu vis-bn rl-dp att-nw of commit 5d8cde1, in one
process, torch 2.14 CPU, wall seconds and process CPU seconds):

=====================================  ===========  ===========================  ===========
threads, OpenMP wait                   alone        two at once (each)           two / alone
=====================================  ===========  ===========================  ===========
2 (torch's default), spin (default)    282 s (83)   948, 928 s (128, 125)        3.3x
2, ``OMP_WAIT_POLICY=PASSIVE``         90 s (24)    91, 92 s (23, 22)            1.0x
1, passive                             20, 20 s (7) 40, 40 s; 31, 31 s (7 each)  1.6-2.0x
=====================================  ===========  ===========================  ===========

Two spinning labs took 47x the time of one single-threaded lab (948 s vs 20 s); with one thread
each, two labs take 1.6-2x. With a busy machine, spinning also wastes 11x the CPU the work needs
(83 s for 7 s of work). Even at load ~2, one thread was faster than torch's default of two
(13.7 s vs 26.1 s for these cards plus att-quality): the lab's models are too small to gain from
a second thread. Through ``danlu lab --only tr-relu vis-bn rl-dp att-nw`` with the defaults here
(1 thread, passive), same cards and load: alone 58 s and 40 s, two at once 89 + 89 s and
78 + 79 s (whole processes): 1.5x and 1.9x.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from danlu.errors import UsageError

#: Threads the lab uses by default: its models are small, and more threads mostly add
#: synchronisation and make verdicts depend on the machine (see the module docstring).
DEFAULT_THREADS = 1
_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
_state: dict[str, Any] = {}


def available_cores() -> int:
    """The cores this process may run on (``os.sched_getaffinity``; ``os.cpu_count`` elsewhere)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """``OMP_NUM_THREADS`` if the user set it, else :data:`DEFAULT_THREADS` (1)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return DEFAULT_THREADS


def check_threads(n: int) -> int:
    """Validate a ``--threads`` value (a positive integer)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"--threads must be a positive integer, got {n!r}")
    return n


def prepare(threads: int) -> None:
    """Set the OpenMP/BLAS environment for ``threads`` threads; call before ``import torch``.

    Variables the user already set are kept. If torch is already imported (the lab called from
    Python), libgomp has read its environment; :func:`thread_report` then says so.
    """
    check_threads(threads)
    _state["torch_was_imported"] = "torch" in sys.modules
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(threads))


def apply(threads: int) -> None:
    """Set torch's intra-op thread count to ``threads``."""
    import torch

    torch.set_num_threads(check_threads(threads))
    _state["threads"] = threads


def thread_report() -> dict[str, Any]:
    """What results.json records about threads: count, cores, wait policy and whether it took effect."""
    import torch

    policy = os.environ.get("OMP_WAIT_POLICY", "")
    if not _state:
        effective = "not set by the lab"
    elif _state.get("torch_was_imported"):
        effective = "torch was imported before the lab set it (no effect on libgomp)"
    else:
        effective = "set before torch was imported"
    return {
        "threads": torch.get_num_threads(),
        "cpu_cores_available": available_cores(),
        "omp_wait_policy": policy or "(unset: libgomp spins)",
        "omp_wait_policy_effect": effective,
    }


@contextlib.contextmanager
def one_thread(device: Any = None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(1)`` (on a CPU device, or when ``device`` is None)
    and restore the count after.

    For cards whose tensors are small: a second torch thread only adds synchronization, and on a
    shared machine its OpenMP workers wait on each other (a 2-thread card ran 10-50x its CPU time on
    a busy 2-core machine). Such a card's verdict then does not depend on the runner's thread count.
    """
    import torch

    if device is not None and getattr(device, "type", "cpu") != "cpu":
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def single_threaded(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Decorator for a card function ``fn(ctx)``: run it inside :func:`one_thread` on ``ctx.device``."""

    @functools.wraps(fn)
    def wrapper(ctx: Any) -> Any:
        with one_thread(ctx.device):
            return fn(ctx)

    return wrapper
