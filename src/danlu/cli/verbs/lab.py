"""``danlu lab``: run the lab cards and write the HTML report plus results.json."""

from __future__ import annotations

import argparse

NAME = "lab"
HELP = "run the lab cards (claims measured on this machine) and write an HTML report"
DESCRIPTION = """\
Run the lab cards and write DIR/index.html (one section per card: claim, source note,
verdict, numbers, figures, runtime, device) and DIR/results.json.

A claim that does not hold is a finding, not an error. The exit code is 1 if any card
raised an error, 2 for bad input, 0 otherwise.

examples:
  danlu lab                          # every card, quick budget, CPU -> ./danlu-lab/index.html
  danlu lab --list                   # what cards exist
  danlu lab --only tr-relu sys-hw    # just these
  danlu lab --area tricks --full     # one area, full budget
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", action="store_true", help="list the cards (id, area, title, claim) and exit")
    p.add_argument("--only", nargs="+", metavar="ID", help="run only these card ids")
    p.add_argument("--area", action="append", metavar="A", help="run only cards of this area (repeatable)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="quick budget: CPU-sized, seconds per card (default)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="full budget: larger runs, minutes per card")
    p.set_defaults(mode="quick")
    p.add_argument("--out", default="danlu-lab", metavar="DIR", help="report folder (default: ./danlu-lab)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed for every card (default: 0)")


def select_cards(only: list[str] | None, areas: list[str] | None):
    """The cards chosen by ``--only`` / ``--area``; unknown ids or areas raise UsageError."""
    from danlu.errors import UsageError
    from danlu.lab import list_cards

    cards = list_cards()
    ids = {c.id for c in cards}
    known_areas = sorted({c.area for c in cards})
    if areas:
        bad = [a for a in areas if a not in known_areas]
        if bad:
            raise UsageError(f"unknown area {bad[0]!r}; valid: {', '.join(known_areas)}")
        cards = [c for c in cards if c.area in areas]
    if only:
        bad = [i for i in only if i not in ids]
        if bad:
            raise UsageError(f"unknown card {bad[0]!r}; valid: {', '.join(sorted(ids))}")
        order = {i: n for n, i in enumerate(only)}
        cards = sorted((c for c in cards if c.id in order), key=lambda c: order[c.id])
        if not cards:
            raise UsageError("--only and --area together select no card")
    return cards


def run(args: argparse.Namespace) -> int:
    import pathlib

    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from danlu.errors import UsageError
    from danlu.runtime import resolve_device

    console = Console()
    if args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    cards = select_cards(args.only, args.area)
    if args.list:
        t = Table(title=f"{len(cards)} lab cards")
        for col in ("id", "area", "title", "claim"):
            t.add_column(col, overflow="fold")
        for c in cards:
            t.add_row(c.id, c.area, c.title, c.claim)
        console.print(t)
        return 0
    device = resolve_device(args.device)
    out = pathlib.Path(args.out)

    from danlu.lab.runner import check_out_dir, run_lab

    check_out_dir(out)
    colors = {"held": "green", "not held": "yellow", "inconclusive": "white", "error": "red"}
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("danlu lab", total=len(cards))

        def on_start(info):
            progress.update(task, description=f"{info.id:<18}")

        def on_done(run):
            c = colors.get(run.verdict, "white")
            progress.console.print(f"  [{c}]{run.verdict:<12}[/{c}] {run.info.id:<18} {run.runtime_s:6.1f} s  "
                                   f"{run.reason[:110]}", highlight=False, markup=True)
            progress.advance(task)

        runs = run_lab(cards, out=out, device=device, seed=args.seed, mode=args.mode,
                       on_start=on_start, on_done=on_done)
    errors = [r for r in runs if r.verdict == "error"]
    console.print(f"report: [bold]{(out / 'index.html').resolve()}[/bold]  (numbers: {out / 'results.json'})",
                  highlight=False)
    if errors:
        console.print(f"[red]{len(errors)} card(s) raised an error:[/red] {', '.join(r.info.id for r in errors)}")
        return 1
    return 0
