"""``danlu lab``: run the lab cards into a run folder of their own, or compare two runs."""

from __future__ import annotations

import argparse

NAME = "lab"
HELP = "run the lab cards (claims measured on this machine) and write an HTML report"
#: What the quick budget costs (shown in --help): the whole quick lab, default threads, 2 idle CPU
#: cores. Re-measure after each wave of cards (`time danlu lab` on an idle machine).
QUICK_COST = "~4-5 min on 2 CPU cores, 1 thread (55 cards: 239 s of cards, 2026-11-26, machine shared with a test run)"
DESCRIPTION = f"""\
Run the lab cards. Each run writes a folder of its own, DIR/<run-id>/ (index.html: one
section per card with claim, rule, verdict, effect and interval, numbers, figures, runtime;
results.json: the raw numbers), and updates DIR/index.html (every run, newest first) and
DIR/latest (a symlink, plus latest.txt and latest.html). The run id sorts by time:
<date>-<time>-<mode>-<what ran>[-s<seed>][-<tag>]. The lab never deletes or overwrites a file
it did not write: next to a foreign DIR/index.html it writes DIR/danlu-runs.html and says so.

Cost: quick: {QUICK_COST}. Full: minutes per card.
Two labs on one machine share its cores: each runs --threads torch threads and its OpenMP
workers wait passively, so both slow down about 2x instead of spinning each other out.

A claim that does not hold is a finding, not an error. The exit code is 1 if any card
raised an error, 2 for bad input, 0 otherwise.

examples:
  danlu lab                          # every card, quick budget, CPU -> ./danlu-lab/<run-id>/index.html
  danlu lab --list                   # what cards exist
  danlu lab --only tr-relu sys-hw    # just these (a run of its own; earlier runs stay)
  danlu lab --area tricks --full     # one area, full budget
  danlu lab --seed 1 --tag seed1     # another seed, labelled
  danlu lab --compare danlu-lab/RUN_A danlu-lab/latest   # two runs card by card
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--list", action="store_true", help="list the cards (id, area, title, claim) and exit")
    p.add_argument("--only", nargs="+", metavar="ID", help="run (or compare) only these card ids")
    p.add_argument("--area", action="append", metavar="A", help="run only cards of this area (repeatable)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help=f"quick budget (default): {QUICK_COST}")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="full budget: larger runs, minutes per card")
    p.set_defaults(mode="quick")
    p.add_argument("--out", default="danlu-lab", metavar="DIR",
                   help="lab folder: each run goes to DIR/<run-id>/ (default: ./danlu-lab)")
    p.add_argument("--tag", metavar="TEXT", help="a label appended to the run id (letters, digits, . _ + -)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="seed for every card (default: 0)")
    p.add_argument("--threads", metavar="N",
                   help="torch CPU threads (default: $OMP_NUM_THREADS if set, else 1: the cards' models are small, "
                        "and verdicts should not depend on the core count)")
    p.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                   help="compare two runs card by card (run folders, results.json files, run ids under DIR, "
                        "or 'latest'); writes DIR/compare/A__vs__B.html")


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


def _threads(value: str | None) -> int:
    from danlu.errors import UsageError
    from danlu.lab.threads import default_threads

    if value is None:
        return default_threads()
    if not value.strip().isdigit() or int(value) < 1:
        raise UsageError(f"--threads must be a positive integer, got {value!r}")
    return int(value)


def _command(args: argparse.Namespace, threads: int) -> str:
    """The command that reproduces this run (recorded in results.json)."""
    import shlex

    parts = ["danlu", "lab"]
    if args.only:
        parts += ["--only", *args.only]
    for a in args.area or []:
        parts += ["--area", a]
    parts += [f"--{args.mode}", "--seed", str(args.seed), "--device", args.device, "--threads", str(threads)]
    if args.tag:
        parts += ["--tag", args.tag]
    return shlex.join(parts)


def run(args: argparse.Namespace) -> int:
    from danlu.errors import UsageError
    from danlu.lab import threads as lab_threads

    # Before anything imports torch: libgomp reads OMP_WAIT_POLICY once, when it is loaded.
    threads = _threads(args.threads)
    lab_threads.prepare(threads)
    if args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    if args.tag is not None:
        from danlu.lab.runs import check_tag

        check_tag(args.tag)
    if args.compare:
        if args.list:
            raise UsageError("--compare and --list do not go together")
        return _compare(args)

    from rich.console import Console

    lab_threads.apply(threads)
    console = Console()
    cards = select_cards(args.only, args.area)
    if args.list:
        from rich.table import Table

        t = Table(title=f"{len(cards)} lab cards")
        for col in ("id", "area", "title", "claim"):
            t.add_column(col, overflow="fold")
        for c in cards:
            t.add_row(c.id, c.area, c.title, c.claim)
        console.print(t)
        return 0
    from danlu.runtime import resolve_device

    device = resolve_device(args.device)
    return _run_lab(args, cards, device, threads, console)


def _run_lab(args: argparse.Namespace, cards, device, threads: int, console) -> int:
    import pathlib

    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from danlu.lab.progress import card_line, summary_lines
    from danlu.lab.runner import run_lab
    from danlu.lab.runs import LabRoot, make_run_id, selection_tag

    root = LabRoot(pathlib.Path(args.out)).ensure()
    run_dir = root.new_run(make_run_id(args.mode, selection_tag(args.only, args.area), seed=args.seed,
                                       user_tag=args.tag))
    related = root.related([c.id for c in cards], exclude=run_dir.name)
    console.print(f"danlu lab: {len(cards)} card(s), {args.mode} budget, seed {args.seed}, {device}, "
                  f"{threads} thread(s) -> {run_dir.resolve()}", highlight=False, markup=False, soft_wrap=True)
    done: list = []
    interrupted = False
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task("danlu lab", total=len(cards))

        def on_start(info):
            progress.update(task, description=f"{info.id:<18}")
            if not done:
                root.refresh()  # the index of runs lists this run (running) while it runs

        def on_done(run):
            done.append(run)
            progress.console.print(card_line(run, len(done), len(cards), width=console.width))
            progress.advance(task)

        try:
            runs = run_lab(cards, out=run_dir, device=device, seed=args.seed, mode=args.mode,
                           on_start=on_start, on_done=on_done, related=related,
                           runs_index=f"../{root.index_name()}",
                           meta={"command": _command(args, threads), "lab_root": str(root.path.resolve())})
        except KeyboardInterrupt:
            interrupted, runs = True, done
    index = root.refresh(latest=run_dir.name)
    for line in summary_lines(runs, wall_hint=None):
        console.print(line)
    for note in dict.fromkeys(root.notes):
        console.print(f"note: {note}", highlight=False, markup=False, style="yellow")
    report = (run_dir / "index.html").resolve()
    console.print(f"report: [bold]{escape(str(report))}[/bold]", highlight=False, soft_wrap=True)
    console.print(f"numbers: {(run_dir / 'results.json').resolve()}", highlight=False, markup=False, soft_wrap=True)
    if index is not None:
        console.print(f"all runs: {index.resolve()}", highlight=False, markup=False, soft_wrap=True)
    if interrupted:
        raise KeyboardInterrupt
    errors = [r for r in runs if r.verdict == "error"]
    if errors:
        console.print(f"[red]{len(errors)} card(s) raised an error:[/red] {', '.join(r.info.id for r in errors)}")
        return 1
    return 0


def _compare(args: argparse.Namespace) -> int:
    import pathlib

    from rich.console import Console

    from danlu.lab.compare import compare_page_name, compare_runs, load_run, print_compare, render_compare
    from danlu.lab.runs import LabRoot

    root_path = pathlib.Path(args.out)
    a = load_run(args.compare[0], root=root_path)
    b = load_run(args.compare[1], root=root_path)
    if a.folder == b.folder:
        from danlu.errors import UsageError

        raise UsageError(f"RUN_A and RUN_B are the same run ({a.folder}); give two different runs")
    cmp = compare_runs(a, b, only=args.only)
    root = LabRoot(root_path).ensure()
    rel = f"compare/{compare_page_name(cmp)}"
    page = root.write_managed(rel, render_compare(cmp, page_dir=(root.path / "compare").resolve()))
    if page is not None:
        root.refresh()
    console = Console()
    print_compare(cmp, console, page=page)
    for note in dict.fromkeys(root.notes):
        console.print(f"note: {note}", highlight=False, markup=False, style="yellow")
    return 0
