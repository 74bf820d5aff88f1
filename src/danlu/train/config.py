"""Typed training configuration: dataclasses with one doc per field, YAML files and overrides.

    >>> from danlu.train.config import TrainConfig, apply_overrides
    >>> cfg = apply_overrides(TrainConfig(), ["optim.lr=0.01", "loop.epochs=2"])
    >>> cfg.optim.lr, cfg.loop.epochs
    (0.01, 2)

Every field carries its documentation in ``field(metadata={"doc": ...})`` so ``--print-config``
can show it next to the value. Names (model, dataset, optimizer, schedule, loss, metrics) are
looked up in their registries, so a new registry entry is usable from a config with no change
here. Errors name the offending key and what was expected:

- an unknown key lists the valid keys of its section;
- a wrong type names the field, the expected type and the value;
- a missing ``data.path`` names the path.
"""

from __future__ import annotations

import dataclasses
import pathlib
from dataclasses import dataclass, field
from typing import Any, Literal

from danlu.train.schema import ConfigError, coerce, doc_field, hints, section, type_name


@dataclass
class ModelConfig:
    """The network."""

    name: str = doc_field("cnn", "registered model name (danlu.models.MODELS)")
    args: dict[str, Any] = doc_field({"widths": [16, 32, 64], "norm": "bn"},
                              "keyword arguments of the model constructor; in_features / in_channels / "
                              "num_classes are filled from the data when the constructor takes them")


@dataclass
class DataConfig:
    """The dataset and how it is batched."""

    name: str = doc_field("mnist5k", "registered dataset name (danlu.data.DATASETS); ignored when path is set")
    path: str | None = doc_field(None, "a .pt file holding {'x': (N, ...) tensor, 'y': (N,) tensor}, split 70/15/15")
    args: dict[str, Any] = doc_field({}, "keyword arguments of the dataset loader (e.g. flatten: true)")
    batch_size: int = doc_field(64, "batch size per process (global batch = batch_size x processes x accum_steps)")
    eval_batch_size: int = doc_field(256, "batch size for evaluation")
    num_workers: int = doc_field(0, "DataLoader worker processes")
    augment: str | None = doc_field(None, "augmentation preset applied to the training split "
                                          "(danlu.vision.augment.PRESETS, e.g. flip); null: none")
    subset: dict[str, Any] | None = doc_field(None, "train on a scored subset, e.g. {score: el2n, keep: 0.5, "
                                                    "mode: hard} (danlu.select); null: all training data")


@dataclass
class OptimConfig:
    """The optimizer."""

    name: str = doc_field("adamw", "registered optimizer name (danlu.optim.OPTIMIZERS)")
    lr: float = doc_field(5e-3, "peak learning rate")
    weight_decay: float = doc_field(0.01, "weight decay (biases, norms and embeddings are exempt)")
    args: dict[str, Any] = doc_field({}, "extra keyword arguments of the optimizer (e.g. betas, momentum)")


@dataclass
class ScheduleConfig:
    """The learning-rate schedule, stepped once per optimizer step."""

    name: str = doc_field("cosine", "registered schedule name (danlu.optim.SCHEDULES)")
    args: dict[str, Any] = doc_field({}, "extra keyword arguments of the schedule (e.g. warmup_steps, min_lr)")


@dataclass
class LossConfig:
    """The training loss."""

    name: str = doc_field("cross_entropy", "registered loss name (danlu.losses.LOSSES)")
    args: dict[str, Any] = doc_field({}, "keyword arguments of the loss (e.g. label_smoothing)")


@dataclass
class LoopConfig:
    """How long and how the loop steps."""

    epochs: int = doc_field(6, "passes over the training split")
    max_steps: int = doc_field(0, "stop after this many optimizer steps (0: no limit)")
    accum_steps: int = doc_field(1, "micro-batches accumulated per optimizer step (no_sync under DDP)")
    grad_clip: float = doc_field(0.0, "clip the global gradient norm to this value (0: off)")
    precision: Literal["fp32", "bf16", "fp16"] = doc_field(
        "fp32", "fp32; bf16 autocast (CPU and CUDA); fp16 autocast + GradScaler (CUDA only)")
    ema_decay: float = doc_field(0.0, "EMA of the weights with this decay, used for evaluation (0: off)")
    nan_guard: bool = doc_field(True, "skip steps whose loss or gradients hold NaN/inf (with grad_clip: whose "
                                      "gradient norm is NaN/inf)")
    max_bad_steps: int = doc_field(10, "stop with an error after this many skipped (NaN/inf) steps")
    eval_every: int = doc_field(1, "evaluate on the validation split every this many epochs")


@dataclass
class CheckpointConfig:
    """Checkpoints (atomic writes; the last k plus the best are kept)."""

    every_steps: int = doc_field(0, "also checkpoint every this many optimizer steps (0: off)")
    every_epochs: int = doc_field(1, "checkpoint at the end of every this many epochs (0: off; the last step is "
                              "always saved)")
    keep_last: int = doc_field(2, "how many recent checkpoints to keep")
    monitor: str | None = doc_field(None, "metric that picks best.pt: val_loss or val_<metric> (null: the task's "
                                          "choice, val_accuracy for classification, val_quality for gan)")
    mode: Literal["max", "min"] = doc_field("max", "whether a larger or a smaller monitored value is better")


@dataclass
class LogConfig:
    """Progress display and the JSONL log."""

    every_steps: int = doc_field(10, "log (JSONL + progress fields) every this many optimizer steps")
    progress: bool = doc_field(True, "show the rich progress bar")


@dataclass
class TaskConfig:
    """What is trained: the task decides the step, the loss, the metrics and the optimizers."""

    name: str = doc_field("classification", "registered task name (danlu.train.tasks.TASKS)")
    args: dict[str, Any] = doc_field({}, "the task's own fields, each documented below by --print-config")


#: top-level fields a task may or may not read (``Task.reads``); the rest are the engine's
TASK_SECTIONS = ("model", "data", "optim", "schedule", "loss", "metrics")


@dataclass
class TrainConfig:
    """Everything a training run needs. Defaults: a small CNN on MNIST-5k, CPU, about a minute."""

    model: ModelConfig = field(default_factory=ModelConfig, metadata={"doc": "the network"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"doc": "the dataset and batching"})
    optim: OptimConfig = field(default_factory=OptimConfig, metadata={"doc": "the optimizer"})
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig, metadata={"doc": "the LR schedule"})
    loss: LossConfig = field(default_factory=LossConfig, metadata={"doc": "the loss"})
    loop: LoopConfig = field(default_factory=LoopConfig, metadata={"doc": "loop length and stepping"})
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig, metadata={"doc": "checkpoints"})
    log: LogConfig = field(default_factory=LogConfig, metadata={"doc": "progress and logging"})
    task: TaskConfig = field(default_factory=TaskConfig, metadata={"doc": "what is trained (the step, loss, "
                                                                          "metrics and optimizers)"})
    metrics: list[str] = doc_field(["accuracy"], "metrics computed on train and val (danlu.train.metrics.METRICS)")
    seed: int = doc_field(0, "seed for weights, data split, data order and dropout")
    device: str = doc_field("cpu", "cpu, cuda or cuda:N (under torchrun each process uses cuda:LOCAL_RANK)")
    out_dir: str = doc_field("runs/danlu", "run directory: config.yaml, log.jsonl, metrics.json, checkpoints/")


def from_dict(data: dict[str, Any] | None, cls: type = TrainConfig, where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, checking every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or '(top level)'!r} must be a mapping, got {data!r}")
    obj = cls()
    types_ = hints(cls)
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        current = section(obj, str(key), where)
        if dataclasses.is_dataclass(current):
            setattr(obj, key, from_dict(value, type(current), path))
        else:
            setattr(obj, key, coerce(value, types_[key], path))
    validate(obj) if cls is TrainConfig else None
    return obj


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config (YAML- and checkpoint-safe)."""
    return dataclasses.asdict(cfg)


def load_config(path: str | pathlib.Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Load a YAML file (or the defaults when ``path`` is None) and apply ``key.sub=value`` overrides."""
    import yaml

    data: dict[str, Any] = {}
    if path is not None:
        p = pathlib.Path(path)
        if not p.is_file():
            raise ConfigError(f"config file {str(p)!r} does not exist")
        try:
            data = yaml.safe_load(p.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {str(p)!r} is not valid YAML: {exc}") from None
    cfg = from_dict(data)
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: TrainConfig, overrides: list[str] | tuple[str, ...]) -> TrainConfig:
    """Apply ``section.key=value`` strings (values parsed as YAML: 0.1, true, [16, 32], null)."""
    import yaml

    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key.sub=value")
        key, raw = item.split("=", 1)
        try:
            value = yaml.safe_load(raw) if raw != "" else ""
        except yaml.YAMLError:
            value = raw
        parts = key.strip().split(".")
        obj: Any = cfg
        where = ""
        for i, part in enumerate(parts):
            path = f"{where}.{part}" if where else part
            last = i == len(parts) - 1
            if isinstance(obj, dict):  # free-form args: model.args.width=32
                if last:
                    obj[part] = value
                else:
                    obj = obj.setdefault(part, {})
            else:
                current = section(obj, part, where)
                if last:
                    if dataclasses.is_dataclass(current):
                        raise ConfigError(f"override {key!r} names a section; set one of its keys: "
                                          f"{', '.join(f.name for f in dataclasses.fields(current))}")
                    if isinstance(value, str) and hints(type(obj))[part] in (int, float):
                        raise ConfigError(f"config field {path} expects {type_name(hints(type(obj))[part])}, "
                                          f"got {value!r} (str)")
                    setattr(obj, part, coerce(value, hints(type(obj))[part], path))
                else:
                    obj = current
            where = path
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Value checks that the types cannot express: registry names, ranges and the data path."""
    from danlu.data import DATASETS
    from danlu.losses import LOSSES
    from danlu.models import MODELS, list_models
    from danlu.optim import OPTIMIZERS, SCHEDULES
    from danlu.train.metrics import METRICS
    from danlu.train.tasks import args_dict, parse_args

    list_models()  # imports every model module so the registry is full
    for where, registry, name in (("model.name", MODELS, cfg.model.name), ("optim.name", OPTIMIZERS, cfg.optim.name),
                                  ("schedule.name", SCHEDULES, cfg.schedule.name),
                                  ("loss.name", LOSSES, cfg.loss.name)):
        if name not in registry:
            raise ConfigError(f"{where}: unknown {registry.kind} {name!r}; valid: {', '.join(registry.names())}")
    for m in cfg.metrics:
        if m not in METRICS:
            raise ConfigError(f"metrics: unknown metric {m!r}; valid: {', '.join(METRICS.names())}")
    if cfg.data.path is not None:
        if not pathlib.Path(cfg.data.path).expanduser().is_file():
            raise ConfigError(f"data.path: data file {cfg.data.path!r} does not exist")
    elif cfg.data.name not in DATASETS:
        raise ConfigError(f"data.name: unknown dataset {cfg.data.name!r}; valid: {', '.join(DATASETS.names())}")
    positive = {"data.batch_size": cfg.data.batch_size, "data.eval_batch_size": cfg.data.eval_batch_size,
                "loop.epochs": cfg.loop.epochs, "loop.accum_steps": cfg.loop.accum_steps,
                "loop.max_bad_steps": cfg.loop.max_bad_steps, "loop.eval_every": cfg.loop.eval_every,
                "checkpoint.keep_last": cfg.checkpoint.keep_last, "log.every_steps": cfg.log.every_steps}
    for where, v in positive.items():
        if v <= 0:
            raise ConfigError(f"{where} must be positive, got {v}")
    non_negative = {"loop.max_steps": cfg.loop.max_steps, "loop.grad_clip": cfg.loop.grad_clip,
                    "checkpoint.every_steps": cfg.checkpoint.every_steps,
                    "checkpoint.every_epochs": cfg.checkpoint.every_epochs, "seed": cfg.seed,
                    "data.num_workers": cfg.data.num_workers, "optim.weight_decay": cfg.optim.weight_decay}
    for where, v in non_negative.items():
        if v < 0:
            raise ConfigError(f"{where} must be non-negative, got {v}")
    if not cfg.optim.lr > 0:
        raise ConfigError(f"optim.lr must be positive, got {cfg.optim.lr}")
    if not 0.0 <= cfg.loop.ema_decay < 1.0:
        raise ConfigError(f"loop.ema_decay must be in [0, 1), got {cfg.loop.ema_decay}")
    task = _task_class(cfg)
    cfg.task.args = args_dict(parse_args(task, cfg.task.args))  # defaults filled in: the run records them all
    monitors = {f"val_{m}" for m in task.monitors(cfg)}
    if cfg.checkpoint.monitor is not None and cfg.checkpoint.monitor not in monitors:
        raise ConfigError(f"checkpoint.monitor: {cfg.checkpoint.monitor!r} is not measured; "
                          f"valid: {', '.join(sorted(monitors))}")


def _task_class(cfg: TrainConfig) -> Any:
    from danlu.train.tasks import TASKS

    if cfg.task.name not in TASKS:
        raise ConfigError(f"task.name: unknown task {cfg.task.name!r}; valid: {', '.join(TASKS.names())}")
    return TASKS.get(cfg.task.name)


def to_yaml(cfg: TrainConfig, *, comments: bool = True) -> str:
    """The resolved config as YAML, each field followed by its documentation as a comment."""
    import yaml

    if not comments:
        return yaml.safe_dump(to_dict(cfg), sort_keys=False)
    lines: list[str] = []
    task = _task_class(cfg)

    def flow(name: str, value: Any) -> str:
        text = yaml.safe_dump({name: value}, default_flow_style=True, width=10_000, sort_keys=False).strip()
        return text[1:-1] if text.startswith("{") else text

    def emit(obj: Any, indent: int) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            doc = f.metadata.get("doc", "")
            pad = "  " * indent
            if obj is cfg and f.name in TASK_SECTIONS and f.name not in task.reads:
                doc += f" (not used by task {task.name})"
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{f.name}:  # {doc}")
                emit(value, indent + 1)
            elif obj is cfg.task and f.name == "args":
                emit_task_args(value, pad)
            elif obj is cfg.task and f.name == "name":
                lines.append(f"{pad}{flow(f.name, value)}  # {doc}: {', '.join(list_tasks())}")
            else:
                lines.append(f"{pad}{flow(f.name, value)}  # {doc}")

    def emit_task_args(args: dict[str, Any], pad: str) -> None:
        fields = {f.name: f for f in dataclasses.fields(task.Args)}
        if not args:
            lines.append(f"{pad}args: {{}}  # task {task.name} has no fields of its own")
            return
        lines.append(f"{pad}args:  # fields of task {task.name}")
        for k, v in args.items():
            doc = fields[k].metadata.get("doc", "") if k in fields else ""
            lines.append(f"{pad}  {flow(k, v)}  # {doc}")

    from danlu.train.tasks import list_tasks

    emit(cfg, 0)
    return "\n".join(lines) + "\n"
