"""Hyperparameter search: Optuna trials as nested MLflow runs, best config as runnable YAML."""

from __future__ import annotations

import pytest
import yaml

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import DEFAULT_CONFIG, TINY


def _config(tmp_path, space: dict) -> object:
    tree = yaml.safe_load(DEFAULT_CONFIG.read_text())
    tree["tune"] = {"trials": 2, "space": space}
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_a_space_entry_needs_choices_or_a_range(tmp_path):
    path = _config(tmp_path, {"train.learning_rate": {"low": 0.1}})
    with pytest.raises(ConfigError, match="choices"):
        load_config(path)
    path = _config(tmp_path, {"train.learning_rate": {"low": 0.0, "high": 1.0, "log": True}})
    with pytest.raises(ConfigError, match="log ranges need low > 0"):
        load_config(path)


def test_tuning_without_a_space_says_how_to_declare_one(tmp_path):
    from kerasforge.pipelines.tracking.tune import tune

    with pytest.raises(ConfigError, match=r"declares no tune\.space"):
        tune(DEFAULT_CONFIG, [f"output_dir={tmp_path}"])


@pytest.mark.heavy
def test_trials_nest_under_a_parent_and_the_best_config_runs(tmp_path):
    from mlflow.tracking import MlflowClient

    from kerasforge.pipelines.tracking.tune import tune

    space = {
        "train.learning_rate": {"low": 0.001, "high": 0.01, "log": True},
        "model.options.dense_units": {"choices": [4, 8]},
    }
    path = _config(tmp_path, space)
    overrides = [*TINY, "train.epochs=1", f"output_dir={tmp_path / 'out'}"]
    best = tune(path, overrides, trials=2)
    client = MlflowClient(f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    parent = client.get_run(best["parent_run_id"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 2
    assert all(c.info.status == "FINISHED" for c in children)
    values = [max(m.value for m in client.get_metric_history(c.info.run_id, "val_accuracy"))
              for c in children]  # fmt: skip
    assert best["best_value"] == pytest.approx(max(values))
    assert parent.data.metrics["best_val_accuracy"] == pytest.approx(max(values))
    written = load_config(best["config"])  # runnable: `kerasforge train --config <it>`
    best_run = client.get_run(parent.data.tags["best_run_id"])
    assert written.train.learning_rate == pytest.approx(
        float(best_run.data.params["train.learning_rate"])
    )
    assert (
        str(written.model.options["dense_units"])
        == best_run.data.params["model.options.dense_units"]
    )
    assert not written.tune.space


TUNE_CONFIG = DEFAULT_CONFIG.with_name("digits_cnn_tune.yaml")  # what `make tune` searches


def test_the_shipped_tune_config_declares_a_small_space_of_real_keys():
    from kerasforge.pipelines.tracking.tune import _override

    cfg = load_config(TUNE_CONFIG)
    assert cfg.tune.space and cfg.tune.trials <= 5, "`make tune` stays a few minutes long"
    # Each bound and choice of the space is a value the config accepts at its key.
    for key, spec in cfg.tune.space.items():
        for value in spec.choices or [spec.low, spec.high]:
            load_config(TUNE_CONFIG, [_override(key, value)])


@pytest.mark.heavy
def test_the_shipped_tune_config_runs_a_trial_and_names_the_best(tmp_path, capsys):
    from kerasforge.pipelines.tracking.tune import tune

    overrides = ["model.options.filters=[4]", "train.epochs=1", f"output_dir={tmp_path}"]
    best = tune(TUNE_CONFIG, overrides, trials=1)
    # Each trial announces itself and its sampled values before its first epoch.
    out = capsys.readouterr().out.splitlines()
    (announced,) = [line for line in out if line.startswith("trial ")]
    assert announced.startswith("trial 1 of 1: train.learning_rate=")
    assert "model.options.dense_units=" in announced
    rate = announced.split("train.learning_rate=")[1].split()[0]
    assert len(rate.replace(".", "").lstrip("0").split("e")[0]) <= 3, rate  # 3 significant digits
    assert best["best_trial"] == 0 and best["metric"] == "val_accuracy"
    assert 0.0 <= best["best_value"] <= 1.0
    written = load_config(best["config"])
    assert list(written.model.options["filters"]) == [4] and not written.tune.space


def test_the_trial_line_shows_a_float_to_3_significant_digits():
    from kerasforge.pipelines.tracking.tune import _shown

    assert _shown(0.0011155792840695788) == "0.00112"
    assert _shown(64) == "64" and _shown([8, 16]) == "[8, 16]"
