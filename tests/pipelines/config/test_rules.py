"""Bounds, paths and stores (``kerasforge.pipelines.config.rules``): one line naming the key
and the value received.
"""

from __future__ import annotations

import pytest

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG
from tests.pipelines.config_helpers import one_line


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
        load_config(DEFAULT_CONFIG, overrides)
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
    assert load_config(DEFAULT_CONFIG, [f"tracking.uri={uri}"]).tracking.uri == uri


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
        load_config(DEFAULT_CONFIG, [f"output_dir={tmp_path / target}"])
    one_line(info)
    assert load_config(DEFAULT_CONFIG, [f"output_dir={tmp_path / 'new' / 'deeper'}"])
