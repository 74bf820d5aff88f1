"""The task registry and the task config: names, args, --print-config docs, and the per-step callback API."""

from __future__ import annotations

import pytest
import torch
import yaml

from danlu.cli import main
from danlu.optim import create_optimizer, create_schedule
from danlu.train import TASKS, TrainConfig, apply_overrides, create_task, list_tasks, to_dict, train
from danlu.train.config import ConfigError
from danlu.train.tasks import Task


def test_every_task_subclasses_task_and_documents_its_args():
    assert "classification" in list_tasks()
    for name in list_tasks():
        cls = TASKS.get(name)
        assert issubclass(cls, Task) and cls.name == name
        assert cls.phases and len(set(cls.phases)) == len(cls.phases)
        for f in __import__("dataclasses").fields(cls.Args):
            assert f.metadata.get("doc"), f"{name}.{f.name} has no doc"


def test_unknown_task_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"task.name: unknown task 'seq3seq'; valid: .*classification"):
        apply_overrides(TrainConfig(), ["task.name=seq3seq"])
    with pytest.raises(Exception, match=r"unknown task 'seq3seq'; valid: .*classification"):
        create_task("seq3seq")


def test_unknown_task_on_the_command_line_is_one_line_exit_2(capsys):
    assert main(["train", "task.name=seq3seq", "--print-config"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "task.name: unknown task 'seq3seq'; valid: " in err[0], err
    assert "classification" in err[0].split("valid: ")[1], err


def test_classification_takes_no_args():
    with pytest.raises(ConfigError, match=r"task.args: task 'classification' has no fields of its own, got 'x'"):
        apply_overrides(TrainConfig(), ["task.args.x=1"])


def test_print_config_documents_the_task_and_round_trips(capsys):
    assert main(["train", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "name: classification  # registered task name" in text and "classification" in text.split("TASKS)")[1]
    assert "args: {}  # task classification has no fields of its own" in text
    assert "not used by task" not in text  # classification reads every section
    assert yaml.safe_load(text) == to_dict(TrainConfig())


def test_monitor_defaults_to_the_task_choice(tiny):
    cfg = tiny("loop.epochs=1")
    assert cfg.checkpoint.monitor is None
    result = train(cfg)
    best = torch.load(result.run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert best["loop"]["best"] == result.metrics["val_accuracy"]  # val_accuracy picked best.pt
    with pytest.raises(ConfigError, match=r"checkpoint.monitor: 'val_f1' is not measured; valid: val_accuracy, "
                                          r"val_loss"):
        apply_overrides(TrainConfig(), ["checkpoint.monitor=val_f1"])


def test_callbacks_see_each_step_lr_loss_batch_and_outputs(tiny):
    """``engine.last``: the lr the step used (before the schedule stepped), its loss, the batch and the logits."""
    seen = []

    def record(event, engine):
        if event == "step":
            last = engine.last
            seen.append((last.step, last.lr, float(last.loss), last.batch[1].clone(), last.outputs.argmax(1)))

    result = train(tiny("loop.epochs=1", "metrics=[accuracy]", "schedule.name=cosine"), callbacks=[record])
    assert [s[0] for s in seen] == list(range(1, result.state.step + 1))
    opt = create_optimizer("adamw", torch.nn.Linear(1, 1), lr=0.01)
    sched = create_schedule("cosine", opt, total_steps=result.state.step)
    expected = []
    for _ in seen:
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert [s[1] for s in seen] == expected
    correct = sum(int((s[4] == s[3]).sum()) for s in seen)
    total = sum(len(s[3]) for s in seen)
    assert result.history[0]["train_accuracy"] == pytest.approx(correct / total, abs=1e-12)
    assert result.history[0]["train_loss"] == pytest.approx(sum(s[2] for s in seen) / len(seen), rel=1e-6)
