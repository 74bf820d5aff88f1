"""The four-command loop on a tiny budget: danlu train -> danlu predict -> danlu eval coco / voc.

The COCO stats that ``danlu eval`` prints for the predicted file must equal the test metrics that
``danlu train`` wrote for the same weights (``--checkpoint last``): two independent paths
(the task's in-memory evaluation and the files) agree to the last digit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from danlu.cli import main

TINY = ["data.args.n=120", "schedule.args.warmup_steps=2", "data.args.image_size=32", "data.batch_size=16", "loop.epochs=2",
        "task.args.widths=[8,16,16,16,16]", "task.args.sizes=[[0.2,0.3],[0.4,0.5],[0.6,0.8]]", "log.progress=false"]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("loop") / "ssd"
    assert main(["train", "configs/shapes_ssd.yaml", "--out", str(out), "--quiet", *TINY]) == 0
    return out


def test_train_predict_eval_agree(run_dir, tmp_path, capsys) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text())
    dets, gt = tmp_path / "dets.json", tmp_path / "gt.json"
    assert main(["predict", str(run_dir), "--data", "shapes", "--out", str(dets), "--gt", str(gt),
                 "--checkpoint", "last"]) == 0
    capsys.readouterr()
    assert main(["eval", "coco", str(gt), str(dets)]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert len(stats) == 12
    assert stats["AP"] == pytest.approx(max(metrics["test_ap"], 0), abs=1e-12)
    assert stats["AP50"] == pytest.approx(max(metrics["test_ap50"], 0), abs=1e-12)
    assert stats["AR100"] == pytest.approx(metrics["test_ar100"], abs=1e-12) and stats["AR100"] > 0  # not vacuous
    assert len(json.loads(gt.read_text())["images"]) == 18  # 15% of 120


def test_predict_voc_ids_read_by_eval_voc(run_dir, tmp_path, capsys) -> None:
    dets, voc = tmp_path / "d.json", tmp_path / "voc"
    assert main(["predict", str(run_dir), "--data", "shapes", "--split", "val", "--out", str(dets),
                 "--voc", str(voc)]) == 0
    assert main(["eval", "voc", str(voc), str(dets)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 0.0 <= out["mAP"] <= 1.0 and set(out["per_class"]) <= {"circle", "square", "triangle", "star"}
    assert json.loads(dets.read_text())[0]["image_id"].isdigit()


def test_predict_refuses_to_overwrite_and_leaves_the_file(run_dir, tmp_path, capsys) -> None:
    dets = tmp_path / "dets.json"
    dets.write_text("mine")
    assert main(["predict", str(run_dir), "--data", "shapes", "--out", str(dets)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already exists" in err[0] and "--overwrite" in err[0]
    assert dets.read_text() == "mine"
    assert main(["predict", str(run_dir), "--data", "shapes", "--out", str(dets), "--overwrite"]) == 0
    assert isinstance(json.loads(dets.read_text()), list)


@pytest.mark.parametrize("args,needle", [
    (["--data", "nosuch"], "unknown dataset 'nosuch'"),
    (["--batch-size", "0"], "--batch-size must be positive"),
    (["--checkpoint", "missing.pt"], "checkpoint 'missing.pt' does not exist"),
    (["--gt", "SAME"], "same file"),
])
def test_predict_bad_input_one_line(run_dir, tmp_path, capsys, args, needle) -> None:
    out = tmp_path / "o.json"
    args = [str(out) if a == "SAME" else a for a in args]
    base = ["predict", str(run_dir), "--out", str(out)] + (["--data", "shapes"] if "--data" not in args else [])
    assert main(base + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not out.exists()


def test_predict_not_a_run_subprocess(tmp_path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "danlu", "predict", str(tmp_path), "--data", "shapes", "--out",
                           str(tmp_path / "d.json")], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "is not a danlu run folder" in lines[0] and "Traceback" not in proc.stderr


@pytest.mark.parametrize("task,needle", [
    (["task.args.num_classes=2"], "outside 1..2"),
    (["task.name=segmentation", "task.args={num_classes: 2}"], "outside 0..2"),
])
def test_class_outside_config_is_one_line_error(tmp_path, capsys, task, needle) -> None:
    args = ["train", "configs/shapes_ssd.yaml", "--out", str(tmp_path / "r"), "--quiet", *TINY, *task]
    if "task.name=segmentation" in task:
        args = [a for a in args if not a.startswith("task.args.")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "shapes train split" in err[0], err
    assert not (tmp_path / "r" / "checkpoints").exists()


@pytest.mark.slow
def test_resume_from_an_epoch_checkpoint_is_exact(run_dir, tmp_path) -> None:
    ckpts = sorted((run_dir / "checkpoints").glob("ckpt-*.pt"), key=lambda p: p.stat().st_mtime)
    assert len(ckpts) == 2  # epochs 1 and 2 (keep_last 2)
    out = tmp_path / "resumed"
    assert main(["train", "configs/shapes_ssd.yaml", "--out", str(out), "--quiet", *TINY, "--resume",
                 str(ckpts[0])]) == 0
    a = json.loads((run_dir / "metrics.json").read_text())
    b = json.loads((out / "metrics.json").read_text())
    assert a == b
