"""``danlu train --nproc N``: run torchrun's launcher in this process, so Ctrl-C ends cleanly.

torchrun starts each worker in its own session, so a Ctrl-C in the terminal reaches only this
process. Running the launcher here (``torch.distributed.run.run``, what the ``torchrun`` command
calls) rather than as a child process means:

- Ctrl-C: torch's launcher turns the signal into ``SignalException`` and stops every worker
  with the same signal; workers die at once without a traceback (:func:`quiet_worker_signals`
  restores the default action of SIGINT in them, so none is left printing a KeyboardInterrupt
  or a gloo "Connection closed by peer" from a collective its peer left). Here that becomes
  ``KeyboardInterrupt``: ``danlu train: interrupted``, exit 130, and nothing else;
- a failed worker: it printed its own one-line error; this adds one line naming the rank and
  its exit code instead of torchrun's error report, and exits with the worker's code;
- torchrun's own log lines (its shutdown warnings, its failure report) are hidden unless
  ``LOGLEVEL`` is set.
"""

from __future__ import annotations

import logging
import os
import signal

from danlu.errors import DanluError


def quiet_worker_signals() -> None:
    """In a process torchrun started (``TORCHELASTIC_RUN_ID`` set), let SIGINT end it silently.

    torchrun stops its workers with the signal it got; with Python's default handler a worker
    blocked in a collective would print a traceback (its own KeyboardInterrupt, or its peer's
    closed connection). Checkpoints are written atomically, so dying at any point loses nothing.
    """
    if os.environ.get("TORCHELASTIC_RUN_ID") is not None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


def _quiet_torch_loggers() -> None:
    if "LOGLEVEL" in os.environ:  # the user asked for torchrun's logs
        return
    import torch.distributed.run  # noqa: F401 - creates the loggers whose level we set

    for name in list(logging.root.manager.loggerDict):
        if name.startswith(("torch.distributed.elastic", "torch.distributed.run", "torch.distributed.launcher")):
            logging.getLogger(name).setLevel(logging.CRITICAL)  # a failure is reported in one line below


def run_torchrun(nproc: int, argv: list[str], *, env: dict[str, str] | None = None) -> int:
    """Run ``danlu ARGV`` in ``nproc`` local processes (torchrun ``--standalone``); returns the exit code.

    Ctrl-C raises ``KeyboardInterrupt`` once every worker is stopped. ``env`` is added to the
    workers' environment.
    """
    from torch.distributed.elastic.multiprocessing import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    args = get_args_parser().parse_args(["--standalone", f"--nproc_per_node={nproc}", "-m", "danlu", *argv])
    _quiet_torch_loggers()
    os.environ.update(env or {})
    try:
        run(args)
    except SignalException:
        raise KeyboardInterrupt from None
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()  # the earliest: the others were stopped because of it
        code = failure.exitcode
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        raise WorkerFailed(f"process {rank} of {nproc} {how} (its output is above)", code if code > 0 else 1) from None
    return 0


class WorkerFailed(DanluError):
    """A worker of ``--nproc N`` failed; ``exit_code`` is its exit code (1 if it was killed)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
