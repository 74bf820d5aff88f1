"""``danlu train``: train a model from a YAML config (or the embedded default) with overrides."""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a model from a config (checkpoints, exact resume, bf16/fp16, DDP via torchrun)"
DESCRIPTION = """\
Train a supervised model from a YAML config, or with no config the embedded default
(a small CNN on MNIST-5k, CPU, about a minute), and print the final metrics.

Overrides are `section.key=value` (values parsed as YAML). The run folder (--out, or
out_dir in the config) gets config.yaml, log.jsonl, metrics.json and checkpoints/; a folder
holding anything else is refused, so a file of yours is never overwritten. Checkpoints are
written atomically; --resume continues the newest one bit-for-bit (an error if there is none;
--resume auto starts when there is none); a checkpoint that does not fit the config's model
is refused naming the mismatched weights.

examples:
  danlu train                                   # the default MNIST-5k CNN run
  danlu train --print-config                    # show the resolved config with field docs
  danlu train task.name=gan --print-config      # a task's own fields (task.args), documented
  danlu train configs/digits_mlp.yaml optim.lr=0.01 loop.epochs=3
  danlu train configs/mnist5k_cnn.yaml loop.precision=bf16 loop.ema_decay=0.999
  danlu train --out runs/a --resume             # continue runs/a from its newest checkpoint
  danlu train cfg.yaml --out runs/b --resume auto         # resume if runs/b has a checkpoint, else start
  danlu train configs/mnist5k_cnn.yaml --nproc 2          # 2 processes (DDP, gloo on CPU)
  torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29400 \\
      -m danlu train cfg.yaml --out /shared/run           # several machines
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", nargs="?", default=None, metavar="CONFIG",
                   help="YAML config file (default: the embedded MNIST-5k CNN config)")
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides such as optim.lr=0.01")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved config, every field documented (the task's own too), and exit")
    p.add_argument("--resume", nargs="?", const="newest", default=None, metavar="auto|CKPT",
                   help="continue from the newest checkpoint in the run folder (an error if there is none); "
                        "--resume auto: resume if there is one, else start; --resume CKPT: from that file")
    p.add_argument("--nproc", type=int, default=1, metavar="N",
                   help="run N processes on this machine with DDP (launches torchrun)")
    p.add_argument("--out", default=None, metavar="DIR", help="run folder (overrides out_dir)")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (overrides device)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _allow_intermixed(p)


def _allow_intermixed(p: argparse.ArgumentParser) -> None:
    """Accept overrides after options (``danlu train cfg.yaml --out d optim.lr=0.1``).

    The subcommand parser is called through ``parse_known_args``; routing that call through
    ``parse_known_intermixed_args`` (which itself calls ``parse_known_args``) lets positionals
    follow options.
    """
    original = p.parse_known_args

    def parse_known_args(args=None, namespace=None):  # type: ignore[no-untyped-def]
        p.parse_known_args = original  # type: ignore[method-assign]
        try:
            return p.parse_known_intermixed_args(args, namespace)
        finally:
            p.parse_known_args = parse_known_args  # type: ignore[method-assign]

    p.parse_known_args = parse_known_args  # type: ignore[method-assign]


def _split(args: argparse.Namespace) -> tuple[str | None, list[str]]:
    """A first positional containing '=' is an override, not a config file."""
    if args.config is not None and "=" in args.config and not args.config.endswith((".yaml", ".yml")):
        return None, [args.config, *args.overrides]
    return args.config, list(args.overrides)


def run(args: argparse.Namespace) -> int:
    import pathlib

    from danlu.cli.paths import check_input_file
    from danlu.errors import UsageError
    from danlu.train.config import apply_overrides, from_dict, load_config, to_yaml
    from danlu.train.run_dir import AUTO, CHECKED_ENV, NEWEST, checked_by_parent, plan_run

    config, overrides = _split(args)
    if args.resume not in (None, AUTO, NEWEST) and "=" in args.resume and not pathlib.Path(args.resume).exists():
        overrides.insert(0, args.resume)  # `--resume key=value`: the value was an override, not a file
        args.resume = NEWEST
    if config is not None:
        check_input_file(config, what="config file", pattern="*.y*ml")  # a folder "is a directory", not missing
    if args.out is not None:
        overrides.append(f"out_dir={args.out}")
    if args.device is not None:
        overrides.append(f"device={args.device}")
    if args.quiet:
        overrides.append("log.progress=false")
    if args.nproc < 1:
        raise UsageError(f"--nproc must be >= 1, got {args.nproc}")

    if config is None and args.resume is not None:
        # resuming with no config file: reuse the config stored in the run's checkpoint
        from danlu.train.checkpoint import CheckpointManager, load_checkpoint

        out_dir = pathlib.Path(load_config(None, overrides).out_dir)
        path = (pathlib.Path(args.resume) if args.resume not in (AUTO, NEWEST)
                else CheckpointManager(out_dir / "checkpoints").latest())
        cfg = (apply_overrides(from_dict(load_checkpoint(path)["config"]), overrides) if path is not None
               else load_config(None, overrides))
    else:
        cfg = load_config(config, overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0
    # the run folder: refuse a user's folder, "nothing to resume", what --resume means (run_dir.py)
    resume = plan_run(cfg.out_dir, args.resume, is_main=_is_main() and not checked_by_parent())

    if args.nproc > 1:
        from danlu.cli.launch import run_torchrun

        argv = ["train", *([config] if config else []), *overrides]
        if args.resume is not None:
            argv += ["--resume", args.resume]
        return run_torchrun(args.nproc, argv, env={CHECKED_ENV: "1"})

    from rich.console import Console

    from danlu.train import Trainer
    from danlu.train.log import summary_table

    result = Trainer(cfg).fit(resume=resume)
    if _is_main():
        console = Console()
        console.print(summary_table(result.metrics))
        console.print(f"run folder: {result.run_dir}", highlight=False)
    from danlu.train.distributed import shutdown

    shutdown()
    return 0


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"
