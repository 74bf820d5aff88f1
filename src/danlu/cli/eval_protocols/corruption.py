"""``danlu eval corruption RUN_DIR``: a trained run's accuracy under every corruption x severity.

The run is loaded with :func:`danlu.train.load_run.load_run` (its config, splits and checkpoint
weights, EMA weights when it kept them); the test split (or ``--split``) is corrupted with the
grayscale set of :mod:`danlu.robust.corruptions` (seeded by ``--seed``) and the table of
:func:`danlu.robust.corruptions.benchmark.corruption_table` is printed: mean corruption accuracy,
then one row per corruption with the accuracy at severities 1..5 (``--json`` for JSON).
"""

from __future__ import annotations

import argparse

NAME = "corruption"
HELP = "a trained run's accuracy under the MNIST-C style corruptions x 5 severities"
USAGE = """\
  danlu eval corruption RUN_DIR [--json] [--plot PNG] [--split test] [--seed 0] [--only a,b]
      Mean corruption accuracy and the per-corruption x severity table of a `danlu train` run on
      grayscale images (e.g. MNIST-5k); --plot writes a heatmap."""
EXAMPLES = ["danlu eval corruption runs/mnist5k_cnn",
            "danlu eval corruption runs/mnist5k_adv --json --plot corruption.png"]


def add_arguments(v: argparse.ArgumentParser) -> None:
    v.add_argument("run_dir", metavar="RUN_DIR", help="a `danlu train` run folder (config.yaml + checkpoints/)")
    v.add_argument("--json", action="store_true", help="print JSON instead of the text table")
    v.add_argument("--plot", metavar="PNG", default=None, help="write a corruption x severity heatmap here")
    v.add_argument("--overwrite", action="store_true", help="replace an existing --plot file")
    v.add_argument("--split", default="test", choices=("test", "val", "train"), help="split to corrupt (default test)")
    v.add_argument("--seed", type=int, default=0, help="seed of the corruptions' random draws (default 0)")
    v.add_argument("--only", default=None, metavar="NAMES", help="comma-separated corruption names (default: all)")
    v.add_argument("--checkpoint", default="best", help="best, last or a .pt file (default best)")


def _images(x, input_shape):
    """The split's inputs as (N, 1, H, W) images and the function that turns them back into model inputs."""
    import math

    from danlu.errors import DanluError

    if x.dim() == 4 and x.shape[1] == 1:
        return x, lambda t: t
    if x.dim() == 3:
        return x[:, None], lambda t: t[:, 0]
    side = math.isqrt(x.shape[1]) if x.dim() == 2 else 0
    if x.dim() == 2 and side * side == x.shape[1]:
        return x.view(len(x), 1, side, side), lambda t: t.reshape(len(t), -1)
    raise DanluError(f"the corruption benchmark needs grayscale images; this run's inputs have shape "
                     f"{tuple(input_shape)} (expected (1, H, W), (H, W) or H*H flattened pixels)")


def run(args: argparse.Namespace) -> int:
    import json

    import torch

    from danlu.cli.paths import check_figure_path, save_figure
    from danlu.errors import DanluError
    from danlu.robust.corruptions import CORRUPTIONS
    from danlu.robust.corruptions.benchmark import corruption_table
    from danlu.train.load_run import load_run

    if args.plot:
        check_figure_path(args.plot, overwrite=args.overwrite)
    names = None
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        for n in names:
            CORRUPTIONS.get(n)  # unknown: lists the valid ones
    loaded = load_run(args.run_dir, checkpoint=args.checkpoint)
    x, y = getattr(loaded.splits, args.split).tensors
    if len(x) == 0:
        raise DanluError(f"run {args.run_dir!r}: the {args.split} split is empty")
    images, to_input = _images(x, loaded.splits.input_shape)
    if float(images.min()) < 0 or float(images.max()) > 1:
        raise DanluError(f"run {args.run_dir!r}: the corruption benchmark needs pixels in [0, 1]; the {args.split} "
                         f"split holds values in [{float(images.min()):.3g}, {float(images.max()):.3g}]")

    class _Inputs(torch.nn.Module):  # corrupted images -> the run's model inputs
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return self.model(to_input(t))

    with torch.inference_mode():
        table = corruption_table(_Inputs(loaded.model), images, y, names=names, seed=args.seed,
                                 progress=not args.json)
    if args.plot:
        from danlu.plotting import subplots

        fig, axes = subplots(1, 1, width=5.0, height=0.3 * len(table.accuracy) + 1.5)
        table.heatmap(axes[0][0], title=f"{args.run_dir}: accuracy (%) by corruption and severity")
        fig.tight_layout()
        save_figure(fig, args.plot)
        from danlu.plotting import pyplot

        pyplot().close(fig)
    out = table.to_json()
    out = {"run_dir": str(args.run_dir), "checkpoint": str(loaded.checkpoint), "split": args.split, **out}
    print(json.dumps(out, indent=2) if args.json else table.format())
    return 0
