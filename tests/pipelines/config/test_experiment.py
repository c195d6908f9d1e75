"""Loading a config (``kerasforge.pipelines.config.experiment``): defaults, overrides, the frozen
result, one line per problem, the command line's exit, and validation without TensorFlow.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from pydantic import ValidationError

from kerasforge.pipelines.config.experiment import ExperimentConfig, flatten, load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG, ROOT, run_cli
from tests.pipelines.config_helpers import ALIAS_BOMB, one_line

CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
HEAVY = {"tensorflow", "keras", "mlflow"}


def test_default_config_loads_and_matches_schema_defaults():
    cfg = load_config(DEFAULT_CONFIG)
    assert cfg.model.name == "digits_cnn"
    assert cfg.model.options["filters"] == (32, 64)  # converted to the builder's type
    assert cfg.data.source == "digits"


def test_overrides_parse_yaml_values():
    cfg = load_config(
        DEFAULT_CONFIG, ["train.epochs=3", "data.cache=false", "model.options.filters=[8]"]
    )
    assert cfg.train.epochs == 3
    assert cfg.data.cache is False
    assert cfg.model.options["filters"] == (8,)


def test_config_is_frozen():
    cfg = load_config(DEFAULT_CONFIG)
    with pytest.raises(ValidationError):
        cfg.train.epochs = 99  # type: ignore[misc]


def test_yaml_round_trip_and_flat_params():
    cfg = load_config(DEFAULT_CONFIG, ["seed=7"])
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
            r"data\.source: unknown data source 'imagenet'; .*available: .*\bdigits\b",
        ),
        (["data.test_fraction=1.5"], r"data\.test_fraction must be less than 1; received 1\.5"),
        (
            ["data.test_fraction=0.5", "data.validation_fraction=0.45"],
            r"validation_fraction \+ data\.test_fraction must stay below 0\.9",
        ),
        (
            ["model.name=resnet9000"],
            r"model\.name: unknown model 'resnet9000'; did you mean .*resnet.*available: alexnet",
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
        (["data.classes=[5, 5]"], r"data\.classes: name each class once; received \[5, 5\]"),
        (["data.classes=[5]"], r"data\.classes must have at least 2 items"),
    ],
)
def test_rejections_name_the_key_and_the_received_value(overrides, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(DEFAULT_CONFIG, overrides)
    assert str(info.value).count("\n") == 0, "one problem must give exactly one line"


def test_several_problems_give_one_line_each():
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT_CONFIG, ["train.epochs=0", "data.batch_size=-1"])
    lines = str(info.value).splitlines()
    assert len(lines) == 2
    assert any("train.epochs" in line for line in lines)
    assert any("data.batch_size" in line for line in lines)


def test_misspelt_key_in_a_file_is_rejected(tmp_path):
    path = tmp_path / "typo.yaml"
    path.write_text("train:\n  epocs: 3\n")
    with pytest.raises(ConfigError, match=r"unknown key 'train\.epocs'"):
        load_config(path)


@pytest.mark.heavy
@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("train.epcohs=3", "train.epcohs"),
        ("train.epochs=-1", "train.epochs"),
        ("model.name=nosuchnet", "model.name"),
        ("model.options.dense_units=1e9", "would have 2.67e+11 parameters"),
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


def test_received_values_are_quoted_short():
    with pytest.raises(ConfigError, match=r"unknown model 'x+\.\.\.x+'; available") as info:
        load_config(DEFAULT_CONFIG, ["model.name=" + "x" * 100_000])
    one_line(info)
    with pytest.raises(ConfigError, match=r"received 'y+\.\.\.y+'$") as info:
        load_config(DEFAULT_CONFIG, ["train.epochs=" + "y" * 100_000])
    one_line(info)


def test_many_problems_are_counted_not_listed():
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT_CONFIG, [f"train.typo{i}=1" for i in range(25)])
    lines = str(info.value).splitlines()
    assert len(lines) == 11 and lines[-1].endswith("... and 15 more problems")


# --- validation stays free of TensorFlow, Keras and MlFlow: a bad config fails in a blink


LOAD_ALL = textwrap.dedent(
    """
    import json, sys
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.errors import ConfigError
    good, bad = json.loads(sys.argv[1])
    for path in good:
        load_config(path)
    for path, overrides in bad:
        try:
            load_config(path, overrides)
        except ConfigError:
            continue
        sys.exit(f"accepted {path} {overrides}")
    print(json.dumps(sorted({name.split(".")[0] for name in sys.modules})))
    """
)


def test_loading_configs_imports_no_tensorflow(tmp_path):
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(ALIAS_BOMB)
    (tmp_path / "afile").write_text("")
    bad = [
        (str(binary), []),
        (str(bomb), []),
        (str(DEFAULT_CONFIG), ["model.name=nope"]),
        (str(DEFAULT_CONFIG), ["model.options.dense_units=big"]),
        (str(DEFAULT_CONFIG), ["seed=4294967296"]),
        (str(DEFAULT_CONFIG), [f"output_dir={tmp_path / 'afile'}"]),
        (str(DEFAULT_CONFIG), ["tracking.uri=foo://bar"]),
        (str(DEFAULT_CONFIG), ["train.epochs=1e9"]),
    ]
    argument = json.dumps([[str(p) for p in CONFIGS], bad])
    proc = subprocess.run(
        [sys.executable, "-c", LOAD_ALL, argument],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert CONFIGS and not HEAVY & set(json.loads(proc.stdout))


def test_cli_rejects_a_bad_config_without_starting_tensorflow(tmp_path):
    """`python -m kerasforge.cli.main train` with a bad config: exit 2, one `error:` line, no TF.

    Stand-ins for tensorflow, keras and mlflow come first on the path and exit
    with status 97 if anything imports them.
    """
    for name in HEAVY:
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text(
            f"import sys\nsys.exit('{name} was imported')\n"
        )
    path = os.pathsep.join(p for p in (str(tmp_path), os.environ.get("PYTHONPATH")) if p)
    result = run_cli(
        "train", "--set", "model.name=nope", timeout=120, env={**os.environ, "PYTHONPATH": path}
    )
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and "model.name" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
