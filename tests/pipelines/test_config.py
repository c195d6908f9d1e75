from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from itertools import pairwise

import pytest
from pydantic import ValidationError

from kerasforge.pipelines.config import ExperimentConfig, flatten, load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import ROOT, run_cli

DEFAULT = ROOT / "configs" / "digits_cnn.yaml"
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
HEAVY = {"tensorflow", "keras", "mlflow"}
SHORT = 500  # characters: the most one error line may take, whatever was received

# The "billion laughs" of the issue (330 bytes, plus the line that puts it in the config):
# nine levels of nine aliases, 387 million strings once expanded.
ALIAS_BOMB = "\n".join(
    [
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
        *(f"{n}: &{n} [{','.join([f'*{p}'] * 9)}]" for p, n in pairwise("abcdefghi")),
        "model: {options: {dense_units: *i}}",
    ]
)


def one_line(exc: pytest.ExceptionInfo[ConfigError]) -> str:
    """The error's message, checked to be one short line."""
    message = str(exc.value)
    assert message.count("\n") == 0, message[:2000]
    assert len(message) < SHORT, message[:2000]
    return message


def test_default_config_loads_and_matches_schema_defaults():
    cfg = load_config(DEFAULT)
    assert cfg.model.name == "digits_cnn"
    assert cfg.model.options["filters"] == (32, 64)  # converted to the builder's type
    assert cfg.data.source == "digits"


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


# --- bounds, paths and stores: one line naming the key and the value received


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["seed=4294967296"], r"seed must be less than 4294967296; received 4294967296$"),
        (["train.epochs=1e9"], r"train\.epochs must be less .* 100000; received 1000000000\.0$"),
        (["train.epochs=1000000000"], r"train\.epochs must be less than or equal to 100000;"),
        (["data.batch_size=1000000"], r"data\.batch_size must be less than or equal to 65536;"),
        (["data.shuffle_buffer=1e12"], r"data\.shuffle_buffer must be less than or equal to"),
        (["train.early_stopping_patience=1e9"], r"train\.early_stopping_patience must be less"),
        (["train.learning_rate=.nan"], r"train\.learning_rate must be .*; received nan$"),
        (["train.learning_rate=.inf"], r"train\.learning_rate must be less than or equal to 10;"),
        (["name=" + "x" * 300], r"name must have at most 128 characters; received 'x+\.\.\.x+'$"),
        (["model.options.dense_units=1.5"], r"dense_units must be a valid integer.*received 1\.5$"),
        (
            ["tracking.uri=foo://bar"],
            r"tracking\.uri: MLflow has no tracking store for scheme 'foo' \(received "
            r"'foo://bar'\); use a local path or a URI starting file:, sqlite:, postgresql:",
        ),
        (["tracking.uri=http://"], r"tracking\.uri: 'http://' names no host"),
        (
            ["tracking.uri=postgresql+a+b://h/db"],
            r"no tracking store for scheme 'postgresql\+a\+b'",
        ),
    ],
)
def test_out_of_range_values_give_one_line(overrides, expected):
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(DEFAULT, overrides)
    one_line(info)


@pytest.mark.parametrize(
    "uri",
    [
        "mlruns",
        "./mlruns",
        "file:///tmp/mlruns",
        "sqlite:///mlflow.db",
        "postgresql://user@host/db",
        "postgresql+psycopg2://user@host/db",
        "mysql+pymysql://user@host/db",
        "mssql+pyodbc://user@host/db",
        "http://127.0.0.1:5000",
        "https://mlflow.example.com",
        "databricks",
        "databricks://profile",
        r"C:\mlruns",
    ],
)
def test_every_tracking_store_mlflow_knows_is_accepted(uri):
    assert load_config(DEFAULT, [f"tracking.uri={uri}"]).tracking.uri == uri


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("afile", r"output_dir: '.*afile' is a file, not a folder; point output_dir at a folder"),
        ("afile/runs", r"output_dir: '.*afile/runs' cannot be a folder: '.*afile' is a file"),
    ],
)
def test_output_dir_must_be_a_folder(tmp_path, target, expected):
    (tmp_path / "afile").write_text("not a folder")
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(DEFAULT, [f"output_dir={tmp_path / target}"])
    one_line(info)
    assert load_config(DEFAULT, [f"output_dir={tmp_path / 'new' / 'deeper'}"])


def test_exponent_numbers_are_numbers():
    """``1e-3`` and ``2e3`` are floats, as in YAML 1.2 and JSON (YAML 1.1 made them strings)."""
    cfg = load_config(DEFAULT, ["train.learning_rate=1e-3", "model.options.dense_units=2e1"])
    assert cfg.train.learning_rate == 0.001
    assert cfg.model.options["dense_units"] == 20 and isinstance(
        cfg.model.options["dense_units"], int
    )


def test_received_values_are_quoted_short():
    with pytest.raises(ConfigError, match=r"unknown model 'x+\.\.\.x+'; available") as info:
        load_config(DEFAULT, ["model.name=" + "x" * 100_000])
    one_line(info)
    with pytest.raises(ConfigError, match=r"received 'y+\.\.\.y+'$") as info:
        load_config(DEFAULT, ["train.epochs=" + "y" * 100_000])
    one_line(info)


def test_many_problems_are_counted_not_listed():
    with pytest.raises(ConfigError) as info:
        load_config(DEFAULT, [f"train.typo{i}=1" for i in range(25)])
    lines = str(info.value).splitlines()
    assert len(lines) == 11 and lines[-1].endswith("... and 15 more problems")


# --- files and YAML that used to end in a traceback or a 36 MB message


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe",
            r"config file '.*bad\.yaml' is not UTF-8 text \(byte 0x89 at offset 0\); "
            r"a config must be UTF-8 YAML text",
        ),
        ("train: {epochs: 3}".encode("utf-16"), r"is not UTF-8 text \(byte 0xff at offset 0\)"),
        (b"train:\x00 {epochs: 3}\n", r"is not YAML text \(character #x0000 at position 6"),
        (ALIAS_BOMB.encode(), r"anchors and aliases expand to more than 100,000 values"),
        (b"model: {options: &x {filters: [*x]}}\n", r"an alias refers to a value that contains it"),
        (
            b"train: " + b"[" * 50_000 + b"]" * 50_000,
            r"not valid YAML: nesting deeper than 64 levels",
        ),
        (b"# comment\n" * 200_000, r"has 2,000,000 bytes; a config is a small YAML file"),
        (b"train: [unclosed\n", r"not valid YAML: expected ',' or '\]', but got '<stream end>'"),
    ],
    ids=["binary", "utf16", "control", "alias-bomb", "alias-cycle", "deep", "huge", "unclosed"],
)
def test_bad_files_give_one_short_line(tmp_path, content, expected):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(path)
    one_line(info)


def test_the_alias_bomb_is_small():
    assert len(ALIAS_BOMB) < 400


def test_small_aliases_still_work(tmp_path):
    path = tmp_path / "aliases.yaml"
    path.write_text("x-widths: &widths [8, 16]\nmodel: {options: {filters: *widths}}\n")
    with pytest.raises(ConfigError, match=r"unknown key 'x-widths'"):
        load_config(path)  # aliases are fine; the unused anchor's key is not
    path.write_text("model: {options: {filters: &w [8, 16], dense_units: 16}}\n")
    assert load_config(path).model.options["filters"] == (8, 16)


def test_alias_bomb_in_an_override_is_refused():
    levels = ["&a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    levels += [f"&{n} [{', '.join([f'*{p}'] * 10)}]" for p, n in zip("abcde", "bcdef", strict=True)]
    with pytest.raises(
        ConfigError, match=r"--set 'model\.options\.filters=.*expand to more"
    ) as info:
        load_config(DEFAULT, [f"model.options.filters=[{', '.join(levels)}]"])
    one_line(info)


def test_config_folder_is_not_a_file(tmp_path):
    with pytest.raises(ConfigError, match=r"is not a file; pass a YAML file") as info:
        load_config(tmp_path)
    one_line(info)


# --- a model too large for memory is refused with its parameter count, before allocation


def _build(config, overrides):
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.train import build_task_model, load_splits

    cfg = load_config(config, overrides)
    task = get_task(cfg.task.name, cfg.task.options)
    return build_task_model(cfg, task, load_splits(cfg, task))


@pytest.mark.parametrize(
    ("config", "overrides", "expected"),
    [
        (
            DEFAULT,
            ["model.options.dense_units=1e9"],
            r"^model\.options: model 'digits_cnn' would have 2\.67e\+11 parameters \(1\.07 TB "
            r"of weights.*\); the limit is 200,000,000 \(model\.max_params\); reduce filters or "
            r"dense_units in model\.options",
        ),
        (
            ROOT / "configs" / "diabetes_mlp.yaml",
            ["model.options.width=1e9"],
            r"model 'mlp' would have 1e\+18 parameters.*reduce depth or width",
        ),
        (DEFAULT, ["model.max_params=1000"], r"would have 82,666 parameters.*limit is 1,000 "),
    ],
)
def test_a_model_too_large_is_refused_before_allocation(config, overrides, expected):
    """1 TB of weights would exhaust memory (16 s, then a traceback); shapes alone are built."""
    with pytest.raises(ConfigError, match=expected) as info:
        _build(config, overrides)
    one_line(info)


def test_the_size_check_builds_the_same_model():
    """Deferred weights get the names and values a plain build gives them."""
    import keras
    import numpy as np

    from kerasforge import models
    from kerasforge.pipelines.limits import build_within_limit

    def build():
        return models.build_model("digits_cnn", filters=(4,), dense_units=8)

    keras.utils.set_random_seed(3)
    checked = build_within_limit(build, "digits_cnn", max_params=10**6)
    keras.utils.set_random_seed(3)
    plain = build()
    assert [w.path for w in checked.weights] == [w.path for w in plain.weights]
    for mine, theirs in zip(checked.weights, plain.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    x = np.random.default_rng(0).random((2, 8, 8, 1), dtype="float32")
    np.testing.assert_allclose(checked.predict(x, verbose=0), plain.predict(x, verbose=0))


# --- validation stays free of TensorFlow, Keras and MlFlow: a bad config fails in a blink

LOAD_ALL = textwrap.dedent(
    """
    import json, sys
    from kerasforge.pipelines.config import load_config
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
        (str(DEFAULT), ["model.name=nope"]),
        (str(DEFAULT), ["model.options.dense_units=big"]),
        (str(DEFAULT), ["seed=4294967296"]),
        (str(DEFAULT), [f"output_dir={tmp_path / 'afile'}"]),
        (str(DEFAULT), ["tracking.uri=foo://bar"]),
        (str(DEFAULT), ["train.epochs=1e9"]),
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
    """`python -m kerasforge.cli train` with a bad config: exit 2, one `error:` line, no TF.

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


def test_export_tflite_accepts_the_boolean_shorthand_and_the_section():
    off = ExperimentConfig.model_validate({"export": {"tflite": False}}).export.tflite
    assert off.enabled is False
    on = ExperimentConfig.model_validate({"export": {"tflite": True}}).export.tflite
    assert on.enabled and on.variants == ["float32", "float16", "dynamic", "int8"]
    assert on.budget == 1.0
    cfg = load_config(ROOT / "configs" / "digits_cnn.yaml", ["export.tflite.budget=0.5"])
    assert cfg.export.tflite.budget == 0.5 and "int8" in cfg.export.tflite.variants


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("export.tflite.variants=[int4]", "export.tflite.variants.0"),
        ("export.tflite.variants=[int8, int8]", "each variant once"),
        ("export.tflite.variants=[]", "export.tflite.variants"),
        ("export.tflite.budget=-1", "export.tflite.budget"),
    ],
)
def test_bad_tflite_sections_name_the_key(override, expected):
    with pytest.raises(ConfigError, match=expected.replace(".", r"\.")):
        load_config(ROOT / "configs" / "digits_cnn.yaml", [override])


def test_data_classes_take_names_or_the_numbers_yaml_reads():
    assert load_config(DEFAULT, ["data.classes=[5, 6]"]).data.classes == ["5", "6"]
    assert load_config(DEFAULT, ["data.classes=[cat, dog]"]).data.classes == ["cat", "dog"]
