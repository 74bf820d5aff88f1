#!/usr/bin/env python
"""Markdown verdict table (card, verdict, effect, rule) generated from lab results.json files.

    python tools/lab_results_table.py danlu-lab/latest                           # to stdout
    python tools/lab_results_table.py RUN_QUICK RUN_FULL --title "tricks: quick and full" \\
        --out benchmarks/results/lab_tricks.md

Each RESULTS is a run folder or its results.json. With several runs, each gets a verdict and an
effect column (A, B, ...), listed with its mode, seed, device, threads, torch version and command.
The recorded verdicts in benchmarks/results/lab_*.md come from this tool, never from hand edits:
an existing --out file is replaced only if this tool (or tools/lab_stability.py) wrote it,
unless --overwrite. Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab_results_table.py", description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", metavar="RESULTS", help="run folders or results.json files")
    p.add_argument("--title", default="lab verdicts", help="the page title")
    p.add_argument("--only", nargs="+", metavar="ID", help="only these cards")
    p.add_argument("--out", metavar="PATH", help="write here instead of stdout")
    p.add_argument("--overwrite", action="store_true", help="replace --out even if it was not generated")
    args = p.parse_args(argv)

    from danlu.errors import DanluError
    from danlu.lab.compare import load_run
    from danlu.lab.markdown import verdict_table, write_generated

    try:
        runs = [load_run(r) for r in args.results]
        if args.only:
            known = {i for r in runs for i in r.cards}
            bad = [i for i in args.only if i not in known]
            if bad:
                raise DanluError(f"card {bad[0]!r} is in none of the runs")
            for r in runs:
                r.cards = {i: c for i, c in r.cards.items() if i in args.only}
        text = verdict_table(runs, title=args.title, source="tools/lab_results_table.py")
        if args.out:
            path = write_generated(args.out, text, overwrite=args.overwrite)
            print(f"wrote {path}", file=sys.stderr)
        else:
            sys.stdout.write(text)
    except DanluError as exc:
        print(f"lab_results_table.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
