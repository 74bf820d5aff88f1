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
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin

from danlu.errors import DanluError


class ConfigError(DanluError):
    """A config file or override that does not fit the schema."""


def _f(default: Any, doc: str) -> Any:
    """A dataclass field with a default (copied if mutable) and its documentation."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"doc": doc})
    return field(default=default, metadata={"doc": doc})


@dataclass
class ModelConfig:
    """The network."""

    name: str = _f("cnn", "registered model name (danlu.models.MODELS)")
    args: dict[str, Any] = _f({"widths": [16, 32, 64], "norm": "bn"},
                              "keyword arguments of the model constructor; in_features / in_channels / "
                              "num_classes are filled from the data when the constructor takes them")


@dataclass
class DataConfig:
    """The dataset and how it is batched."""

    name: str = _f("mnist5k", "registered dataset name (danlu.data.DATASETS); ignored when path is set")
    path: str | None = _f(None, "a .pt file holding {'x': (N, ...) tensor, 'y': (N,) tensor}, split 70/15/15")
    args: dict[str, Any] = _f({}, "keyword arguments of the dataset loader (e.g. flatten: true)")
    batch_size: int = _f(64, "batch size per process (global batch = batch_size x processes x accum_steps)")
    eval_batch_size: int = _f(256, "batch size for evaluation")
    num_workers: int = _f(0, "DataLoader worker processes")


@dataclass
class OptimConfig:
    """The optimizer."""

    name: str = _f("adamw", "registered optimizer name (danlu.optim.OPTIMIZERS)")
    lr: float = _f(5e-3, "peak learning rate")
    weight_decay: float = _f(0.01, "weight decay (biases, norms and embeddings are exempt)")
    args: dict[str, Any] = _f({}, "extra keyword arguments of the optimizer (e.g. betas, momentum)")


@dataclass
class ScheduleConfig:
    """The learning-rate schedule, stepped once per optimizer step."""

    name: str = _f("cosine", "registered schedule name (danlu.optim.SCHEDULES)")
    args: dict[str, Any] = _f({}, "extra keyword arguments of the schedule (e.g. warmup_steps, min_lr)")


@dataclass
class LossConfig:
    """The training loss."""

    name: str = _f("cross_entropy", "registered loss name (danlu.losses.LOSSES)")
    args: dict[str, Any] = _f({}, "keyword arguments of the loss (e.g. label_smoothing)")


@dataclass
class LoopConfig:
    """How long and how the loop steps."""

    epochs: int = _f(6, "passes over the training split")
    max_steps: int = _f(0, "stop after this many optimizer steps (0: no limit)")
    accum_steps: int = _f(1, "micro-batches accumulated per optimizer step (no_sync under DDP)")
    grad_clip: float = _f(0.0, "clip the global gradient norm to this value (0: off)")
    precision: Literal["fp32", "bf16", "fp16"] = _f(
        "fp32", "fp32; bf16 autocast (CPU and CUDA); fp16 autocast + GradScaler (CUDA only)")
    ema_decay: float = _f(0.0, "EMA of the weights with this decay, used for evaluation (0: off)")
    nan_guard: bool = _f(True, "skip steps whose loss or gradient norm is NaN/inf")
    max_bad_steps: int = _f(10, "stop with an error after this many skipped (NaN/inf) steps")
    eval_every: int = _f(1, "evaluate on the validation split every this many epochs")


@dataclass
class CheckpointConfig:
    """Checkpoints (atomic writes; the last k plus the best are kept)."""

    every_steps: int = _f(0, "also checkpoint every this many optimizer steps (0: off)")
    every_epochs: int = _f(1, "checkpoint at the end of every this many epochs (0: off; the last step is "
                              "always saved)")
    keep_last: int = _f(2, "how many recent checkpoints to keep")
    monitor: str = _f("val_accuracy", "metric that picks best.pt (val_loss, val_<metric>)")
    mode: Literal["max", "min"] = _f("max", "whether a larger or a smaller monitored value is better")


@dataclass
class LogConfig:
    """Progress display and the JSONL log."""

    every_steps: int = _f(10, "log (JSONL + progress fields) every this many optimizer steps")
    progress: bool = _f(True, "show the rich progress bar")


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
    metrics: list[str] = _f(["accuracy"], "metrics computed on train and val (danlu.train.metrics.METRICS)")
    seed: int = _f(0, "seed for weights, data split, data order and dropout")
    device: str = _f("cpu", "cpu, cuda or cuda:N (under torchrun each process uses cuda:LOCAL_RANK)")
    out_dir: str = _f("runs/danlu", "run directory: config.yaml, log.jsonl, metrics.json, checkpoints/")


# --------------------------------------------------------------------------- type checking


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if origin in (types.UnionType, typing.Union):
        return " or ".join("null" if a is type(None) else _type_name(a) for a in get_args(tp))
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against annotation ``tp``; int -> float is the only conversion."""

    def bad() -> ConfigError:
        return ConfigError(f"config field {where} expects {_type_name(tp)}, got {value!r} "
                           f"({type(value).__name__})")

    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value not in get_args(tp):
            raise bad()
        return value
    if origin in (types.UnionType, typing.Union):
        for arg in get_args(tp):
            if arg is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError:
                pass
        raise bad()
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise bad()
        (item,) = get_args(tp)
        return [_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise bad()
        return dict(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise bad()
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad()
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad()
        return value
    raise ConfigError(f"config field {where}: unsupported annotation {tp!r}")  # a bug in this file


def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _section(obj: Any, key: str, where: str) -> Any:
    names = [f.name for f in dataclasses.fields(obj)]
    if key not in names:
        kind = f"section {where!r}" if where else "the top level"
        raise ConfigError(f"unknown config key {(where + '.' if where else '') + key!r}; "
                          f"valid keys of {kind}: {', '.join(names)}")
    return getattr(obj, key)


def from_dict(data: dict[str, Any] | None, cls: type = TrainConfig, where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, checking every key and type."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config section {where or '(top level)'!r} must be a mapping, got {data!r}")
    obj = cls()
    hints = _hints(cls)
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        current = _section(obj, str(key), where)
        if dataclasses.is_dataclass(current):
            setattr(obj, key, from_dict(value, type(current), path))
        else:
            setattr(obj, key, _coerce(value, hints[key], path))
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
                current = _section(obj, part, where)
                if last:
                    if dataclasses.is_dataclass(current):
                        raise ConfigError(f"override {key!r} names a section; set one of its keys: "
                                          f"{', '.join(f.name for f in dataclasses.fields(current))}")
                    if isinstance(value, str) and _hints(type(obj))[part] in (int, float):
                        raise ConfigError(f"config field {path} expects {_type_name(_hints(type(obj))[part])}, "
                                          f"got {value!r} (str)")
                    setattr(obj, part, _coerce(value, _hints(type(obj))[part], path))
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
    monitors = {"val_loss"} | {f"val_{m}" for m in cfg.metrics}
    if cfg.checkpoint.monitor not in monitors:
        raise ConfigError(f"checkpoint.monitor: {cfg.checkpoint.monitor!r} is not measured; "
                          f"valid: {', '.join(sorted(monitors))}")


def to_yaml(cfg: TrainConfig, *, comments: bool = True) -> str:
    """The resolved config as YAML, each field followed by its documentation as a comment."""
    import yaml

    if not comments:
        return yaml.safe_dump(to_dict(cfg), sort_keys=False)
    lines: list[str] = []

    def emit(obj: Any, indent: int) -> None:
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            doc = f.metadata.get("doc", "")
            pad = "  " * indent
            if dataclasses.is_dataclass(value):
                lines.append(f"{pad}{f.name}:  # {doc}")
                emit(value, indent + 1)
            else:
                text = yaml.safe_dump({f.name: value}, default_flow_style=True, width=10_000, sort_keys=False).strip()
                text = text[1:-1] if text.startswith("{") else text
                lines.append(f"{pad}{text}  # {doc}")

    emit(cfg, 0)
    return "\n".join(lines) + "\n"
