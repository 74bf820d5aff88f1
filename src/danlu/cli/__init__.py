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
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence
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
    """Entry point of the ``danlu`` command; returns the exit code."""
    from danlu.errors import DanluError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except (DanluError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError) as exc:
        msg = str(exc) if isinstance(exc, DanluError) else f"{exc.strerror}: {exc.filename!r}"
        print(f"danlu {args._verb}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"danlu {args._verb}: interrupted", file=sys.stderr)
        return 130
