"""Config schema, YAML loading and overrides: values land in the right fields, errors name the input."""

from __future__ import annotations

import dataclasses
import pathlib

import pytest
import yaml

from danlu.train.config import (
    ConfigError,
    TrainConfig,
    apply_overrides,
    from_dict,
    load_config,
    to_dict,
    to_yaml,
)

CONFIGS = sorted((pathlib.Path(__file__).parents[2] / "configs").glob("*.yaml"))


def _walk_fields(obj):
    for f in dataclasses.fields(obj):
        yield obj, f
        v = getattr(obj, f.name)
        if dataclasses.is_dataclass(v):
            yield from _walk_fields(v)


def test_every_field_is_documented():
    for obj, f in _walk_fields(TrainConfig()):
        assert f.metadata.get("doc"), f"{type(obj).__name__}.{f.name} has no doc"


def test_overrides_set_typed_values():
    cfg = apply_overrides(TrainConfig(), ["optim.lr=0.01", "loop.epochs=3", "loop.nan_guard=false",
                                          "model.args.widths=[8, 8]", "metrics=[accuracy, top5]",
                                          "loop.grad_clip=1", "data.path=null"])
    assert cfg.optim.lr == 0.01 and cfg.loop.epochs == 3 and cfg.loop.nan_guard is False
    assert cfg.model.args == {"widths": [8, 8], "norm": "bn"}
    assert cfg.metrics == ["accuracy", "top5"]
    assert cfg.loop.grad_clip == 1.0 and isinstance(cfg.loop.grad_clip, float)


def test_yaml_roundtrip_through_print_config(tmp_path):
    cfg = apply_overrides(TrainConfig(), ["optim.lr=0.01", "loop.precision=bf16", "model.args.norm=gn"])
    text = to_yaml(cfg)
    assert "# peak learning rate" in text
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert to_dict(load_config(path)) == to_dict(cfg)
    assert yaml.safe_load(to_yaml(cfg, comments=False)) == to_dict(cfg)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_example_configs_load(path):
    cfg = load_config(path)
    assert cfg.out_dir.startswith("runs/")


def test_default_config_file_is_the_embedded_default():
    cfg = load_config(pathlib.Path(__file__).parents[2] / "configs" / "mnist5k_cnn.yaml", ["out_dir=runs/danlu"])
    assert to_dict(cfg) == to_dict(TrainConfig())


def test_unknown_key_lists_valid_keys_of_its_section():
    with pytest.raises(ConfigError) as e:
        apply_overrides(TrainConfig(), ["optim.lrr=0.1"])
    assert "'optim.lrr'" in str(e.value)
    assert "valid keys of section 'optim': name, lr, weight_decay, args" in str(e.value)
    with pytest.raises(ConfigError, match=r"valid keys of the top level: model, data, optim"):
        from_dict({"optm": {}})
    with pytest.raises(ConfigError, match=r"'loop.epoch'.*epochs, max_steps"):
        from_dict({"loop": {"epoch": 3}})


@pytest.mark.parametrize(("override", "expected"), [
    ("optim.lr=abc", "config field optim.lr expects float, got 'abc' (str)"),
    ("loop.epochs=1.5", "config field loop.epochs expects int, got 1.5 (float)"),
    ("loop.nan_guard=3", "config field loop.nan_guard expects bool, got 3 (int)"),
    ("loop.precision=fp8", "config field loop.precision expects one of 'fp32', 'bf16', 'fp16', got 'fp8' (str)"),
    ("metrics=accuracy", "config field metrics expects list[str], got 'accuracy' (str)"),
    ("model.args=3", "config field model.args expects dict[str, Any], got 3 (int)"),
])
def test_wrong_type_names_field_type_and_value(override, expected):
    with pytest.raises(ConfigError) as e:
        apply_overrides(TrainConfig(), [override])
    assert str(e.value) == expected


def test_wrong_type_in_yaml_file(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("loop:\n  epochs: many\n")
    with pytest.raises(ConfigError, match=r"loop.epochs expects int, got 'many' \(str\)"):
        load_config(p)


def test_missing_data_path_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "data.pt"
    with pytest.raises(ConfigError, match=f"data file '{missing}' does not exist"):
        apply_overrides(TrainConfig(), [f"data.path={missing}"])


def test_missing_config_file_and_bad_yaml(tmp_path):
    with pytest.raises(ConfigError, match="config file .*nope.yaml' does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


@pytest.mark.parametrize(("override", "pattern"), [
    ("model.name=resnet9000", r"model.name: unknown model 'resnet9000'; valid: .*cnn.*mlp"),
    ("optim.name=lion9", r"optim.name: unknown optimizer 'lion9'; valid: .*adamw"),
    ("schedule.name=zigzag", r"schedule.name: unknown schedule 'zigzag'; valid: .*cosine"),
    ("loss.name=hinge9", r"loss.name: unknown loss 'hinge9'; valid: .*cross_entropy"),
    ("data.name=imagenet", r"data.name: unknown dataset 'imagenet'; valid: .*mnist5k"),
    ("metrics=[f9]", r"metrics: unknown metric 'f9'; valid: accuracy"),
    ("checkpoint.monitor=val_f1", r"checkpoint.monitor: 'val_f1' is not measured; valid: val_accuracy, val_loss"),
    ("loop.accum_steps=0", r"loop.accum_steps must be positive, got 0"),
    ("loop.ema_decay=1.0", r"loop.ema_decay must be in \[0, 1\), got 1.0"),
    ("optim", r"override 'optim' is not of the form key.sub=value"),
    ("optim=3", r"override 'optim' names a section; set one of its keys: name, lr"),
])
def test_bad_values_are_named(override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        apply_overrides(TrainConfig(), [override])


def test_registry_entries_added_later_are_accepted():
    from danlu.losses import LOSSES

    name = "test_only_cross_entropy_alias"
    if name not in LOSSES:
        LOSSES.add(name, LOSSES.get("cross_entropy"))
    assert apply_overrides(TrainConfig(), [f"loss.name={name}"]).loss.name == name
