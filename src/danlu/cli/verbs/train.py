"""``danlu train``: train a model from a YAML config (or the embedded default) with overrides."""

from __future__ import annotations

import argparse

NAME = "train"
HELP = "train a model from a config (checkpoints, exact resume, bf16/fp16, DDP via torchrun)"
DESCRIPTION = """\
Train a supervised model from a YAML config, or with no config the embedded default
(a small CNN on MNIST-5k, CPU, about a minute), and print the final metrics.

Overrides are `section.key=value` (values parsed as YAML). The run folder (--out, or
out_dir in the config) gets config.yaml, log.jsonl, metrics.json and checkpoints/.
Checkpoints are written atomically; --resume continues the newest one bit-for-bit.

examples:
  danlu train                                   # the default MNIST-5k CNN run
  danlu train --print-config                    # show the resolved config with field docs
  danlu train task.name=gan --print-config      # a task's own fields (task.args), documented
  danlu train configs/digits_mlp.yaml optim.lr=0.01 loop.epochs=3
  danlu train configs/mnist5k_cnn.yaml loop.precision=bf16 loop.ema_decay=0.999
  danlu train --out runs/a --resume             # continue runs/a from its newest checkpoint
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
    p.add_argument("--resume", nargs="?", const="auto", default=None, metavar="CKPT",
                   help="continue from the newest checkpoint in the run folder (or from CKPT)")
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
    import subprocess

    from danlu.errors import UsageError
    from danlu.train.config import apply_overrides, from_dict, load_config, to_yaml

    config, overrides = _split(args)
    if args.resume not in (None, "auto") and "=" in args.resume and not pathlib.Path(args.resume).exists():
        overrides.insert(0, args.resume)  # `--resume key=value`: the value was an override, not a file
        args.resume = "auto"
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
        path = (pathlib.Path(args.resume) if args.resume != "auto"
                else CheckpointManager(out_dir / "checkpoints").latest())
        cfg = (apply_overrides(from_dict(load_checkpoint(path)["config"]), overrides) if path is not None
               else load_config(None, overrides))
    else:
        cfg = load_config(config, overrides)
    if args.print_config:
        print(to_yaml(cfg), end="")
        return 0

    if args.nproc > 1:
        from danlu.train.distributed import torchrun_command

        argv = ["train", *([config] if config else []), *overrides]
        if args.resume is not None:
            argv += ["--resume", args.resume]
        return subprocess.call(torchrun_command(args.nproc, argv))

    from rich.console import Console

    from danlu.train import Trainer
    from danlu.train.log import summary_table

    resume = True if args.resume == "auto" else args.resume
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
