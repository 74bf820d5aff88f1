"""The ``danlu`` command: one subcommand per verb.

Verbs live in ``danlu/cli/verbs/<name>.py``, one module each, discovered automatically. A verb
module defines::

    NAME = "lab"                       # the subcommand
    HELP = "one line for `danlu --help`"
    def add_arguments(parser: argparse.ArgumentParser) -> None: ...
    def run(args: argparse.Namespace) -> int: ...   # exit code

Verb modules import only argparse at module level; heavy imports go inside ``run`` so that
``danlu --help`` stays fast. Bad input raises :class:`danlu.errors.DanluError` (or a file
error): the command prints one line ``danlu VERB: error: ...`` and exits 2, with no traceback.
:func:`main` also handles, for every verb, a closed output pipe, Ctrl-C and warnings.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType

from danlu import __version__


def _verbs() -> list[ModuleType]:
    from danlu.cli import verbs

    mods = [importlib.import_module(f"danlu.cli.verbs.{m.name}")
            for m in pkgutil.iter_modules(verbs.__path__) if not m.name.startswith("_")]
    return sorted(mods, key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (one subparser per verb)."""
    parser = argparse.ArgumentParser(
        prog="danlu",
        description="danlu (丹炉): deep-learning techniques with the evidence for their claims. "
                    "Run `danlu lab` to measure the claims on this machine.",
    )
    parser.add_argument("--version", action="version", version=f"danlu {__version__}")
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for mod in _verbs():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=getattr(mod, "DESCRIPTION", mod.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _verb=mod.NAME)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``danlu`` command; returns the exit code.

    One place handles what every verb can run into: bad input (one line ``danlu VERB: error: ...``,
    exit 2), a reader that closed the pipe (``danlu ... | head``: stop quietly, exit 0), Ctrl-C
    (``danlu VERB: interrupted``, exit 130) and warnings (one line ``danlu VERB: warning: ...``,
    no source line).
    """
    from danlu.cli.launch import quiet_worker_signals

    quiet_worker_signals()  # in a torchrun worker: Ctrl-C ends it without a traceback
    prefix = "danlu"
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        prefix = f"danlu {args._verb}"
        with _one_line_warnings(prefix):
            code = int(args._run(args) or 0)
            sys.stdout.flush()  # a closed pipe shows up here, not as noise at interpreter exit
            return code
    except BrokenPipeError:  # `danlu rl solve ... | head -1`: the reader has all it wanted
        _stdout_to_devnull()
        return 0
    except KeyboardInterrupt:
        _print_error(f"{prefix}: interrupted")
        return 130
    except Exception as exc:  # noqa: BLE001 - only input errors are turned into one line
        msg = error_line(exc)
        if msg is None:
            raise
        _print_error(f"{prefix}: error: {msg}")
        return int(getattr(exc, "exit_code", 2))


def error_line(exc: BaseException) -> str | None:
    """The one-line message for an input error (a :class:`DanluError` or a file error), else None."""
    from danlu.errors import DanluError

    if isinstance(exc, DanluError):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
                        FileExistsError)):
        return f"{exc.strerror}: {exc.filename!r}" if exc.filename is not None else str(exc)
    return None


def _print_error(line: str) -> None:
    with contextlib.suppress(BrokenPipeError, ValueError):  # stderr gone too
        print(line, file=sys.stderr, flush=True)


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    import os

    try:
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, sys.stdout.fileno())
        os.close(fd)
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (tests capture it)
        pass


@contextlib.contextmanager
def _one_line_warnings(prefix: str) -> Iterator[None]:
    """Show warnings as ``danlu VERB: warning: MESSAGE`` (first line only), without the source line."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):  # type: ignore[no-untyped-def]
        text = str(message).strip().splitlines()
        _print_error(f"{prefix}: warning: {text[0] if text else category.__name__}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
