#!/usr/bin/env python
"""Cross-environment table of lab verdicts: torch threads x seeds, each run in its own process.

    python tools/lab_stability.py --md benchmarks/results/lab_stability.md            # whole quick lab
    python tools/lab_stability.py --only tr-relu rl-dp --md /tmp/stab.md              # a subset
    python tools/lab_stability.py --from-runs danlu-lab/RUN1 danlu-lab/RUN2 --md out.md   # table only

Runs ``danlu lab`` once per (threads, seed) pair (default: threads 1 and 2, seeds 0 and 1: four
runs, one after another, never at once, each in a fresh subprocess with the OpenMP/BLAS thread
variables cleared so --threads alone sets them), each into its own run folder under --lab-dir
(tagged ``stab-t<threads>-s<seed>``). Then writes a markdown table: card x {threads, seed} ->
verdict, and "stable" (one verdict everywhere) or "flips", with the command, device and torch
version. A verdict that flips is not a verdict yet (ARCHITECTURE.md, "Lab cards").
--md is replaced only if it was generated from results.json, unless --overwrite.
Bad input: one line on stderr, exit 2.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
import subprocess
import sys
import time

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY")


def _lab_command(args: argparse.Namespace, threads: int, seed: int) -> list[str]:
    cmd = [sys.executable, "-m", "danlu", "lab", f"--{args.mode}", "--seed", str(seed), "--threads", str(threads),
           "--device", args.device, "--out", str(args.lab_dir), "--tag", f"stab-t{threads}-s{seed}"]
    if args.only:
        cmd += ["--only", *args.only]
    for a in args.area or []:
        cmd += ["--area", a]
    return cmd


def run_matrix(args: argparse.Namespace) -> list[pathlib.Path]:
    """Run the lab once per (threads, seed); return the run folders in that order."""
    from danlu.errors import DanluError

    env = {k: v for k, v in os.environ.items() if k not in _THREAD_VARS}
    lab_dir = pathlib.Path(args.lab_dir)
    folders = []
    for threads in args.threads:
        for seed in args.seeds:
            tag = f"stab-t{threads}-s{seed}"
            before = set(lab_dir.iterdir()) if lab_dir.is_dir() else set()
            cmd = _lab_command(args, threads, seed)
            print(f"[lab_stability] threads {threads}, seed {seed}: {shlex.join(cmd[1:])}", file=sys.stderr, flush=True)
            t0 = time.perf_counter()
            r = subprocess.run(cmd, env=env, stdout=None if args.verbose else subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            if r.returncode not in (0, 1):  # 1: a card raised; its error is in the table
                last = (r.stderr.strip().splitlines() or ["(no message)"])[-1]
                raise DanluError(f"danlu lab (threads {threads}, seed {seed}) exited {r.returncode}: {last}")
            new = [p for p in set(lab_dir.iterdir()) - before if p.is_dir() and tag in p.name]
            if len(new) != 1:
                raise DanluError(f"could not find the run folder of threads {threads}, seed {seed} in {str(lab_dir)!r}")
            print(f"[lab_stability]   -> {new[0]} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True)
            folders.append(new[0])
    return folders


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="lab_stability.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--md", required=True, metavar="PATH", help="where to write the markdown table")
    p.add_argument("--only", nargs="+", metavar="ID", help="only these cards")
    p.add_argument("--area", action="append", metavar="A", help="only cards of this area (repeatable)")
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2], metavar="N", help="torch threads (default 1 2)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1], metavar="S", help="seeds (default 0 1)")
    p.add_argument("--mode", choices=("quick", "full"), default="quick")
    p.add_argument("--device", default="cpu")
    p.add_argument("--lab-dir", default="danlu-lab", metavar="DIR", help="lab folder for the runs (default danlu-lab)")
    p.add_argument("--from-runs", nargs="+", metavar="RUN", help="build the table from these runs; run nothing")
    p.add_argument("--title", default="lab verdicts across torch threads and seeds")
    p.add_argument("--overwrite", action="store_true", help="replace --md even if it was not generated")
    p.add_argument("--verbose", action="store_true", help="show each lab's own output")
    args = p.parse_args(argv)

    from danlu.errors import DanluError
    from danlu.lab.compare import load_run
    from danlu.lab.markdown import GENERATED_MARK, stability_table, write_generated

    try:
        md = pathlib.Path(args.md)
        if md.exists() and not args.overwrite and not md.read_text(errors="replace").startswith(GENERATED_MARK):
            raise DanluError(f"--md {str(md)!r} exists and was not generated from results.json; pass --overwrite")
        if not md.parent.is_dir():
            raise DanluError(f"--md {str(md)!r}: folder {str(md.parent)!r} does not exist")
        if any(t < 1 for t in args.threads) or any(s < 0 for s in args.seeds):
            raise DanluError("--threads must be positive and --seeds non-negative")
        folders = [pathlib.Path(r) for r in args.from_runs] if args.from_runs else run_matrix(args)
        runs = [load_run(str(f)) for f in folders]
        labelled = [(f"threads {r.meta.get('threads', '?')}, seed {r.meta.get('seed', '?')}", r) for r in runs]
        command = shlex.join(["python", "tools/lab_stability.py", *(argv if argv is not None else sys.argv[1:])])
        text = stability_table(labelled, title=args.title, command=command, source="tools/lab_stability.py")
        path = write_generated(md, text, overwrite=args.overwrite)
        print(f"wrote {path}", file=sys.stderr)
    except DanluError as exc:
        print(f"lab_stability.py: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
