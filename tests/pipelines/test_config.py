from __future__ import annotations

import pytest
from pydantic import ValidationError

from kerasforge.pipelines.config import ExperimentConfig, flatten, load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import ROOT, run_cli

DEFAULT = ROOT / "configs" / "digits_cnn.yaml"


def test_default_config_loads_and_matches_schema_defaults():
    cfg = load_config(DEFAULT)
    assert cfg.model.name == "digits_cnn"
    assert cfg.model.options["filters"] == (32, 64)  # converted to the builder's type
    assert cfg.data.source == "digits"


def test_every_config_file_loads_and_builds_its_model():
    from kerasforge import models

    files = sorted((ROOT / "configs").glob("*.yaml"))
    assert files
    for path in files:
        cfg = load_config(path)
        assert isinstance(cfg, ExperimentConfig)
        model = models.build_model(cfg.model.name, **cfg.model.options)
        assert model.count_params() > 0


def test_overrides_parse_yaml_values():
    cfg = load_config(DEFAULT, ["train.epochs=3", "data.cache=false", "model.options.filters=[8]"])
    assert cfg.train.epochs == 3
    assert cfg.data.cache is False
    assert cfg.model.options["filters"] == (8,)


def test_config_is_frozen():
    cfg = load_config(DEFAULT)
    with pytest.raises(ValidationError):
        cfg.train.epochs = 99  # type: ignore[misc]


def test_yaml_round_trip_and_flat_params():
    cfg = load_config(DEFAULT, ["seed=7"])
    again = ExperimentConfig.model_validate(__import__("yaml").safe_load(cfg.to_yaml()))
    assert again == cfg
    flat = cfg.flat()
    assert flat["seed"] == 7 and flat["train.epochs"] == cfg.train.epochs
    assert flatten({"a": {"b": {"c": 1}}, "d": []}) == {"a.b.c": 1, "d": []}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["train.epochz=3"], r"unknown key 'train\.epochz'.*allowed keys there: epochs"),
        (["trian.epochs=3"], r"unknown key 'trian'.*allowed keys there: name, seed"),
        (["train.epochs=-2"], r"train\.epochs must be greater than or equal to 1; received -2"),
        (["train.epochs=three"], r"train\.epochs must be a valid integer.*received 'three'"),
        (["train.learning_rate=0"], r"train\.learning_rate must be greater than 0"),
        (["train.optimizer=adagrad"], r"train\.optimizer must be 'adam'.*received 'adagrad'"),
        (["data.cache=maybe"], r"data\.cache must be a valid boolean.*received 'maybe'"),
        (["data.batch_size=0"], r"data\.batch_size must be greater than or equal to 1"),
        (
            ["data.source=imagenet"],
            r"data\.source: unknown data source 'imagenet'; available: digits",
        ),
        (["data.test_fraction=1.5"], r"data\.test_fraction must be less than 1; received 1\.5"),
        (
            ["data.test_fraction=0.5", "data.validation_fraction=0.45"],
            r"validation_fraction \+ data\.test_fraction must stay below 0\.9",
        ),
        (
            ["model.name=resnet9000"],
            r"model\.name: unknown model 'resnet9000'; available: digits_cnn",
        ),
        (
            ["model.options.dropuot=0.1"],
            r"model\.options\.dropuot: model 'digits_cnn' has no option",
        ),
        (["model.options.dropout=high"], r"model\.options\.dropout must be a valid number"),
        (["model.options.filters=[a, b]"], r"model\.options\.filters must be a valid integer"),
        (["export.model_name=has space"], r"export\.model_name must match pattern"),
        (["train=5"], r"train must be a valid dictionary"),
        (["seed=-1"], r"seed must be greater than or equal to 0"),
    ],
)
def test_rejections_name_the_key_and_the_received_value(overrides, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(DEFAULT, overrides)
    assert str(info.value).count("\n") == 0, "one problem must give exactly one line"


def test_several_problems_give_one_line_each():
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT, ["train.epochs=0", "data.batch_size=-1"])
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any("train.epochs" in line for line in lines)
    assert any("data.batch_size" in line for line in lines)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ("train.epochs", r"expected KEY=VALUE"),
        ("=3", r"expected KEY=VALUE"),
        ("seed.value=3", r"seed holds a value \(42\), not a section"),
    ],
)
def test_bad_set_syntax(item, expected):
    with pytest.raises(ConfigError, match=expected):
        load_config(DEFAULT, [item])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"must hold a mapping.*got a list"):
        load_config(scalar)


def test_misspelt_key_in_a_file_is_rejected(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("train:\n  epocs: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train\.epocs'"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epcohs=3", "train.epcohs"),
        ("train.epochs=-1", "train.epochs"),
        ("model.name=nosuchnet", "model.name"),
    ],
)
def test_cli_rejects_with_one_line_and_nonzero_exit(override, key, tmp_path):
    """As a user sees it: one clear line on stderr naming the key, exit 2, no traceback."""
    result = run_cli("train", "--set", override, f"output_dir={tmp_path}", timeout=120)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and key in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "runs").exists(), "nothing may be built for a rejected config"
