"""``danlu eval PROTOCOL ...``: evaluate files and print the numbers as JSON.

Each protocol is a module in :mod:`danlu.cli.eval_protocols` (coco, voc, and those the capability
areas add), discovered automatically.
"""

from __future__ import annotations

import argparse

from danlu.cli.eval_protocols import protocols

NAME = "eval"
HELP = "evaluate files and print JSON: " + ", ".join(m.NAME for m in protocols())


def _description() -> str:
    mods = protocols()
    usage = "\n".join(m.USAGE for m in mods)
    examples = "\n".join(f"  {e}" for m in mods for e in getattr(m, "EXAMPLES", []))
    return (f"Evaluate files and print the numbers as JSON.\n\n{usage}\n\n"
            "Bad input (malformed files, unknown ids, mismatched lengths) is reported in one line naming\n"
            f"the file and the entry, and nothing is printed to stdout.\n\nexamples:\n{examples}\n")


DESCRIPTION = _description()


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="protocol", metavar="PROTOCOL", required=True)
    for mod in protocols():
        sp = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.USAGE,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        mod.add_arguments(sp)
        sp.set_defaults(_protocol_run=mod.run)


def run(args: argparse.Namespace) -> int:
    return args._protocol_run(args)
