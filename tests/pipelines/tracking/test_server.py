"""Tracking against a real ``mlflow server`` over HTTP (SQLite, then PostgreSQL behind it),
and what happens when that server is down at the start or goes away mid-run."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kerasforge.cli.main import main
from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tracking import store as mlflow_store
from kerasforge.pipelines.training.train import train
from tests.conftest import CLI, DEFAULT_CONFIG, ROOT, TINY
from tests.pipelines.mlflow_servers import MlflowServer, Postgres, find_postgres, free_port

pytestmark = pytest.mark.heavy

SHORT = [*TINY, "train.epochs=2", "export.tflite=false", "data.cache=false"]
WARNING = "warning: MLflow tracking at"


def _train_against(uri: str, out: Path, *extra: str):
    cfg = load_config(DEFAULT_CONFIG, [*SHORT, f"output_dir={out}", f"tracking.uri={uri}", *extra])
    return train(cfg)


def _check_run_on(uri: str, result) -> None:
    """What the server must show of a finished short training."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == "2"
    assert run.data.tags["dataset_fingerprint"]
    history = client.get_metric_history(result.run_id, "val_loss")
    assert [m.step for m in history] == list(range(result.epochs_run))
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"config.yaml", "model_summary.txt", "plots", "evaluation", "model"} <= names
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert "plots/learning_curves.png" in plots
    (version,) = client.search_model_versions(f"run_id = '{result.run_id}'")
    assert version.name == "digits_cnn"
    assert str(client.get_model_version_by_alias("digits_cnn", "champion").version) == str(
        version.version
    )


def test_training_over_http_shows_everything_on_the_server(server, tmp_path):
    import mlflow
    import numpy as np

    result = _train_against(server.uri, tmp_path)
    _check_run_on(server.uri, result)
    assert list((server.artifacts).rglob("learning_curves.png")), "the server stores artifacts"
    with mlflow_store.scoped_uris():
        mlflow.set_tracking_uri(server.uri)
        model = mlflow.pyfunc.load_model("models:/digits_cnn@champion")
    x = result.splits.x_test[:3]
    np.testing.assert_allclose(model.predict(x), result.model.predict(x, verbose=0), atol=1e-5)
    repo = tmp_path / "repo"
    assert (
        main(["publish", "--model", "digits_cnn", "--uri", server.uri, "--repository", str(repo)])
        == 0
    )
    assert list((repo / "digits_cnn").glob("*/saved_model.pb"))


def test_a_server_down_at_the_start_costs_seconds_and_loses_nothing(tmp_path, capsys):
    dead = f"http://127.0.0.1:{free_port()}"
    result = _train_against(dead, tmp_path, "train.epochs=1")
    err = capsys.readouterr().err
    assert err.count(WARNING) == 1 and "Traceback" not in err
    assert result.published is not None and (result.published.path / "saved_model.pb").is_file()
    (journal,) = (tmp_path / "mlflow-fallback").iterdir()
    records = (journal / "journal.jsonl").read_text()
    assert '"kind": "params"' in records and '"kind": "model"' in records
    assert '"val_loss"' in records and (journal / "model.keras").is_file()


def test_a_server_gone_mid_run_then_replay(tmp_path):
    from mlflow.tracking import MlflowClient

    folder = tmp_path / "server"
    backend = f"sqlite:///{folder / 'backend.db'}"
    folder.mkdir()
    first = MlflowServer(backend, folder / "artifacts").start()
    out = tmp_path / "out"
    overrides = [*SHORT, "train.epochs=4", "train.early_stopping_patience=9", f"output_dir={out}",
                 f"tracking.uri={first.uri}"]  # fmt: skip
    proc = subprocess.Popen([*CLI, "train", "--set", *overrides], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    client = MlflowClient(first.uri)
    deadline = time.monotonic() + 240
    run_id = None
    while time.monotonic() < deadline and proc.poll() is None:
        experiment = client.get_experiment_by_name("kerasforge")
        runs = client.search_runs([experiment.experiment_id]) if experiment else []
        if runs and client.get_metric_history(runs[0].info.run_id, "val_loss"):
            run_id = runs[0].info.run_id
            break
        time.sleep(0.5)
    assert run_id, "no epoch reached the server in time"
    first.stop()
    _stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr[-3000:]
    assert stderr.count(WARNING) == 1 and "Traceback" not in stderr, stderr[-3000:]
    assert list(out.glob("runs/*/export/digits_cnn/*/saved_model.pb")), "still exported"
    assert not (out / "models" / "models.config").exists(), "served only once judged"
    (journal,) = (out / "mlflow-fallback").iterdir()
    second = MlflowServer(backend, folder / "artifacts", port=first.port).start()
    try:
        assert main(["runs", "replay", str(journal)]) == 0
        client = MlflowClient(second.uri)
        run = client.get_run(run_id)
        assert run.info.status == "FINISHED", "the replay continues the same run"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
        assert sorted(set(steps)) == list(range(4))
        names = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert "model_summary.txt" in names, "artifacts kept locally reach the server"
        assert str(client.get_model_version_by_alias("digits_cnn", "champion").run_id) == run_id
        assert "stable" in (out / "models" / "models.config").read_text()
        assert main(["runs", "replay", str(journal)]) == 0  # a second replay is skipped
    finally:
        second.stop()


def test_mlflow_server_on_a_real_postgresql(tmp_path):
    bindir, why = find_postgres()
    if bindir is None:
        pytest.skip(f"no PostgreSQL server can be started here: {why}")
    postgres = Postgres(bindir, tmp_path / "pg").start()
    try:
        server = MlflowServer(postgres.uri, tmp_path / "artifacts").start()
        try:
            result = _train_against(server.uri, tmp_path / "out")
            _check_run_on(server.uri, result)
        finally:
            server.stop()
    finally:
        postgres.stop()
