"""Predictions of a trained run written as files: what ``danlu predict`` does, callable from Python.

    >>> from danlu.detection.predict import predict_run
    >>> predict_run("runs/shapes_ssd", data="shapes", out="dets.json", gt="gt.json")  # doctest: +SKIP

The run is loaded by :func:`danlu.train.load_run.load_run` (its config, the best checkpoint, EMA
weights when kept). What is written depends on the run's task, through ``PREDICTORS`` (task name
-> writer): detection writes COCO results (and COCO / VOC ground truth), segmentation ``.npy``
masks. Every output is checked before any work (refused if it exists, unless ``overwrite``) and
written atomically.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from danlu.errors import DanluError
from danlu.registry import Registry


@dataclass
class Outputs:
    """The checked output paths of one prediction (None: not asked for)."""

    out: pathlib.Path
    gt: pathlib.Path | None = None
    voc: pathlib.Path | None = None
    overwrite: bool = False


#: task name -> writer(run, dataset, outputs, batch_size)
PREDICTORS: Registry[Callable[..., None]] = Registry("predictor")


def batches(ds: Any, batch_size: int, what: str) -> Iterator[tuple[torch.Tensor, ...]]:
    """In-order batches of a TensorDataset's tensors, with a transient progress bar on stderr."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    n = len(ds)
    with Progress(TextColumn(what), BarColumn(bar_width=20), MofNCompleteColumn(), transient=True,
                  console=Console(stderr=True)) as bar:
        job = bar.add_task(what, total=n)
        for i in range(0, n, batch_size):
            yield tuple(t[i:i + batch_size] for t in ds.tensors)
            bar.update(job, advance=min(batch_size, n - i))


@PREDICTORS.register("detection")
def predict_detection(run: Any, ds: Any, outs: Outputs, batch_size: int) -> None:
    """COCO results of the run's SSD on ``ds`` (image ids 1..N, or VOC stems with ``outs.voc``)."""
    from danlu.detection.export import coco_ground_truth, coco_results, voc_image_ids, write_coco, write_voc

    task, model = run.task, run.model
    device = next(model.parameters()).device
    dets, targets = [], []
    for x, t in batches(ds, batch_size, "predict"):
        dets += [{k: v.cpu() for k, v in d.items()} for d in task.predict(model, (x.to(device),))]
        targets.append(t)
    targets = torch.cat(targets) if targets else torch.zeros(0, 1, 6)
    hw, classes = task.image_hw, task.classes
    if outs.voc is not None:
        write_voc(outs.voc, targets, hw, classes, overwrite=outs.overwrite)
        results = coco_results(dets, image_ids=voc_image_ids(len(dets)), category_ids=classes)
    else:
        results = coco_results(dets)
    if outs.gt is not None:
        write_coco(outs.gt, coco_ground_truth(targets, hw, classes), overwrite=outs.overwrite)
    write_coco(outs.out, results, overwrite=outs.overwrite)


@PREDICTORS.register("segmentation")
def predict_segmentation(run: Any, ds: Any, outs: Outputs, batch_size: int) -> None:
    """(N, H, W) uint8 predicted classes of the run's segmenter on ``ds`` as ``.npy`` (and the targets)."""
    import numpy as np

    from danlu.files import atomic_open

    task, model = run.task, run.model
    device = next(model.parameters()).device
    preds, targets = [], []
    for x, m in batches(ds, batch_size, "predict"):
        preds.append(task.predict(model, (x.to(device),)).cpu().to(torch.uint8))
        targets.append(m.to(torch.uint8))
    for path, arr in ((outs.gt, targets), (outs.out, preds)):
        if path is not None:
            with atomic_open(path, "wb", overwrite=outs.overwrite) as f:
                np.save(f, torch.cat(arr).numpy())


def check_outputs(out: str | os.PathLike, gt: str | os.PathLike | None, voc: str | os.PathLike | None,
                  overwrite: bool) -> Outputs:
    """Refuse, before any work, outputs that exist (without ``overwrite``), that coincide, or whose folder is missing."""
    from danlu.files import check_output

    paths = [pathlib.Path(p).absolute() for p in (out, gt) if p is not None]
    if len(set(paths)) < len(paths):
        raise DanluError(f"--out and --gt are the same file {str(paths[0])!r}; give two names")
    o = check_output(out, overwrite=overwrite, flag="--out")
    g = check_output(gt, overwrite=overwrite, flag="--gt") if gt is not None else None
    v = None
    if voc is not None:
        v = pathlib.Path(voc)
        if v.exists() and not v.is_dir():
            raise DanluError(f"--voc {str(v)!r} exists and is not a directory")
        if not v.absolute().parent.is_dir():
            raise DanluError(f"--voc {str(v)!r}: folder {str(v.absolute().parent)!r} does not exist")
    return Outputs(out=o, gt=g, voc=v, overwrite=overwrite)


def predict_run(run_dir: str | os.PathLike, *, data: str, out: str | os.PathLike, gt: str | os.PathLike | None = None,
                voc: str | os.PathLike | None = None, split: str = "test", checkpoint: str = "best",
                batch_size: int = 64, device: str = "cpu", overwrite: bool = False,
                predictors: Registry | None = None) -> Outputs:
    """Predict with the run in ``run_dir`` on ``split`` of dataset ``data`` and write the files; see the module docstring."""
    from danlu.data import DATASETS, load_dataset
    from danlu.train.load_run import load_run

    predictors = predictors if predictors is not None else PREDICTORS
    if batch_size < 1:
        raise DanluError(f"--batch-size must be positive, got {batch_size}")
    if split not in ("train", "val", "test"):
        raise DanluError(f"--split must be train, val or test, got {split!r}")
    if data not in DATASETS:
        raise DanluError(f"--data: unknown dataset {data!r}; valid: {', '.join(DATASETS.names())}")
    outs = check_outputs(out, gt, voc, overwrite)
    run = load_run(run_dir, checkpoint=checkpoint, device=device)
    if run.task.name not in predictors:
        raise DanluError(f"run {str(run_dir)!r} trained task {run.task.name!r}; danlu predict writes predictions of: "
                         f"{', '.join(predictors.names())}")
    if voc is not None and run.task.name != "detection":
        raise DanluError(f"--voc is for detection runs; run {str(run_dir)!r} trained task {run.task.name!r}")
    splits = run.splits if data == run.cfg.data.name else load_dataset(data, seed=run.cfg.seed)
    ds = run.task.prepare(getattr(splits, split))
    if len(ds) == 0:
        raise DanluError(f"the {split} split of {data!r} is empty; nothing to predict")
    with torch.no_grad():
        predictors.get(run.task.name)(run, ds, outs, batch_size)
    return outs
