"""A study shared by processes: pruning, trial accounting, one parent run, the best published."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.errors import ConfigError
from tests.conftest import CLI, DEFAULT_CONFIG, TINY
from tests.pipelines.mlflow_servers import Postgres, find_postgres, free_port

SPACE = {
    "train.learning_rate": {"low": 0.001, "high": 0.01, "log": True},
    "model.options.dense_units": {"choices": [4, 8, 16]},
}
SHORT = [*TINY, "train.epochs=2", "export.tflite=false", "data.cache=false"]


def _config(tmp_path, **tune) -> object:
    tree = yaml.safe_load(DEFAULT_CONFIG.read_text())
    tree["tune"] = {"trials": 4, "space": SPACE, **tune}
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(tree))
    return path


def _pruning_study(direction: str = "maximize"):
    import optuna

    pruner = optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)
    return optuna.create_study(direction=direction, pruner=pruner)


def _drive(study, values: list[float], monitor: str = "val_accuracy"):
    """A real Keras model under the callback, fed a history as ``fit`` would log it."""
    import keras

    from kerasforge.pipelines.tracking.pruning import PruningCallback

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = PruningCallback(study.ask(), monitor)
    callback.set_model(model)
    model.stop_training = False  # as fit sets it at its start
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {monitor: value, "loss": 1.0})
        if model.stop_training:
            break
    return callback


def test_a_clearly_worse_trial_is_pruned_and_a_good_one_runs_on():
    from optuna.trial import TrialState

    study = _pruning_study()
    for history in ([0.80, 0.90, 0.95], [0.82, 0.91, 0.96]):
        done = _drive(study, history)
        assert not done.pruned
        study.tell(done.trial, max(done.values))
    worse = _drive(study, [0.30, 0.35, 0.40, 0.45])
    assert worse.pruned and worse.values == [0.30, 0.35], "stopped after the warm-up epoch"
    study.tell(worse.trial, state=TrialState.PRUNED)
    better = _drive(study, [0.85, 0.93, 0.97])
    assert not better.pruned and better.values == [0.85, 0.93, 0.97]
    assert study.trials[2].state == TrialState.PRUNED


def test_pruning_follows_the_direction_of_a_minimised_metric():
    study = _pruning_study("minimize")
    for history in ([0.5, 0.3], [0.6, 0.2]):
        done = _drive(study, history, "val_loss")
        study.tell(done.trial, min(done.values))
    assert not _drive(study, [0.4, 0.1], "val_loss").pruned
    assert _drive(study, [2.0, 1.9], "val_loss").pruned


def test_a_missing_validation_metric_is_named():
    with pytest.raises(ConfigError, match=r"'val_accuracy'.*validation split"):
        _drive(_pruning_study(), [], "val_accuracy").on_epoch_end(0, {"loss": 1.0})


def test_an_unreachable_storage_is_one_clear_line(tmp_path):
    from kerasforge.pipelines.tracking.tune import tune

    url = f"postgresql+psycopg2://kf:secret@127.0.0.1:{free_port()}/optuna"
    with pytest.raises(ConfigError) as caught:
        tune(_config(tmp_path), [f"output_dir={tmp_path}"], storage=url)
    message = str(caught.value)
    assert "is unreachable" in message and "--storage" in message and "\n" not in message
    assert "secret" not in message, "the password stays out of messages"


def test_several_workers_without_a_database_server_are_refused(tmp_path, capsys):
    from kerasforge.cli.main import main

    path = _config(tmp_path)
    assert main(["tune", "--config", str(path), "--workers", "2",
                 "--set", f"output_dir={tmp_path}"]) == 2  # fmt: skip
    err = capsys.readouterr().err
    assert "need a study storage on a database server" in err and "in memory" in err


@pytest.fixture(scope="module")
def postgres(tmp_path_factory):
    bindir, why = find_postgres()
    if bindir is None:
        pytest.skip(f"no PostgreSQL server can be started here: {why}")
    server = Postgres(bindir, tmp_path_factory.mktemp("tune") / "pg").start()
    yield server
    server.stop()


def _mlflow_trials(uri: str, study: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    (experiment,) = [e for e in client.search_experiments() if e.name == "kerasforge"]
    runs = client.search_runs([experiment.experiment_id], f"tags.`kerasforge.study` = '{study}'")
    parents = [r for r in runs if "kerasforge.trial" not in r.data.tags]
    return client, parents, [r for r in runs if "kerasforge.trial" in r.data.tags]


@pytest.mark.heavy
def test_two_processes_share_one_study_in_postgresql(postgres, tmp_path):
    import optuna
    from optuna.trial import TrialState

    from kerasforge.pipelines.tracking.study import open_storage

    out = tmp_path / "out"
    sets = [*SHORT, f"output_dir={out}", f"tracking.uri={postgres.uri}"]
    command = [*CLI, "tune", "--config", str(_config(tmp_path)), "--workers", "2",
               "--study", "shared", "--set", *sets]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "0 run by this process" in done.stdout, "the two workers ran every trial"

    # The study lives beside MLflow's tables, in the tracking store's own database.
    study = optuna.load_study(study_name="shared", storage=open_storage(postgres.uri))
    ran = [t for t in study.trials if not t.user_attrs.get("surplus")]
    assert [t.state for t in ran if t.state == TrialState.FAIL] == []
    assert len(ran) == 4 and len({t.number for t in ran}) == 4
    assert len({tuple(sorted(t.params.items())) for t in ran}) == 4, "no config ran twice"

    client, parents, children = _mlflow_trials(postgres.uri, "shared")
    assert len(parents) == 1, "one parent run for both workers"
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parents[0].info.run_id}
    assert sorted(int(r.data.tags["kerasforge.trial"]) for r in children) == sorted(
        t.number for t in ran
    )
    pruned = {r.data.tags["kerasforge.trial"] for r in children
              if r.data.tags["kerasforge.pruned"] == "true"}  # fmt: skip
    assert pruned == {str(t.number) for t in ran if t.state == TrialState.PRUNED}

    # The best is the best: over the finished trials' logged validation accuracy.
    finished = [r for r in children if r.data.tags["kerasforge.pruned"] == "false"]
    logged = [max(m.value for m in client.get_metric_history(r.info.run_id, "val_accuracy"))
              for r in finished]  # fmt: skip
    assert study.best_value == pytest.approx(max(logged))
    assert client.get_run(parents[0].info.run_id).data.metrics[
        "best_val_accuracy"
    ] == pytest.approx(max(logged))
    written = load_config(out / "tune" / "digits_cnn-best.yaml")
    best = client.get_run(study.best_trial.user_attrs["run_id"])
    assert written.train.learning_rate == pytest.approx(
        float(best.data.params["train.learning_rate"])
    )
    assert (
        str(written.model.options["dense_units"]) == best.data.params["model.options.dense_units"]
    )


@pytest.mark.heavy
def test_publish_best_trains_the_best_config_through_the_gate(tmp_path, capsys):
    from kerasforge.cli.main import main

    out = tmp_path / "out"
    path = _config(tmp_path, trials=1)
    assert main(["tune", "--config", str(path), "--publish-best",
                 "--set", *SHORT, f"output_dir={out}"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    (verdict,) = [line for line in printed.splitlines() if line.startswith("release gate: ")]
    assert verdict.split(":")[1].strip() in {"passed", "failed"}
    assert "model: digits_cnn version " in printed
    assert list((out / "models" / "digits_cnn").glob("*/saved_model.pb")), "a version released"
