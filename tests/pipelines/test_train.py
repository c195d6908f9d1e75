"""Training end to end on the shrunk default experiment: metrics, checkpoints, MLflow, publish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kerasforge.pipelines.config import load_config
from kerasforge.pipelines.tracking import tracking_uri
from kerasforge.pipelines.train import train
from tests.conftest import QUICK, ROOT

pytestmark = pytest.mark.heavy


def test_training_learns_and_keeps_its_work(trained):
    cfg, result = trained
    assert result.test_metrics["test_accuracy"] >= 0.85  # 6 epochs; the full default reaches 0.97+
    assert 1 <= result.epochs_run <= cfg.train.epochs
    assert (result.run_dir / "checkpoints" / "best.keras").is_file()
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved == cfg.to_dict(), "the resolved config is saved with the run"
    card = json.loads((result.run_dir / "kerasforge.json").read_text())
    assert card["class_names"] == [str(i) for i in range(10)]
    assert card["value_range"] == [0.0, 16.0]
    request = json.loads(result.sample_request.read_text())
    assert len(request["instances"]) == 4


def test_mlflow_run_has_params_epoch_metrics_test_metrics_and_artifacts(trained):
    import mlflow
    from mlflow.tracking import MlflowClient

    cfg, result = trained
    uri = tracking_uri(None, cfg.output_dir)
    assert uri.startswith("sqlite:///") and uri.endswith("mlflow.db")
    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["train.epochs"] == str(cfg.train.epochs)
    assert run.data.params["model.name"] == "digits_cnn"
    assert run.data.metrics["test_accuracy"] == pytest.approx(result.test_metrics["test_accuracy"])
    history = client.get_metric_history(result.run_id, "val_accuracy")
    assert [m.step for m in history] == list(range(result.epochs_run))
    assert run.data.tags["model_version"] == str(result.published.version)
    artifacts = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"config.yaml", "model"} <= artifacts
    model_files = {a.path for a in client.list_artifacts(result.run_id, "model")}
    assert {"model/saved_model.pb", "model/model.tflite", "model/kerasforge.json"} <= model_files
    local = mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="config.yaml", tracking_uri=uri
    )
    assert yaml.safe_load(Path(local).read_text()) == cfg.to_dict()
    artifact_root = client.get_experiment(run.info.experiment_id).artifact_location
    assert str(cfg.output_dir.resolve()) in artifact_root, "artifacts stay inside the project"


def test_a_second_run_publishes_the_next_version(trained):
    cfg, first = trained
    again = load_config(
        ROOT / "configs" / "digits_cnn.yaml",
        [*QUICK, "train.epochs=1", f"output_dir={cfg.output_dir}"],
    )
    second = train(again)
    assert second.published.version == first.published.version + 1
    assert (first.published.path / "saved_model.pb").is_file(), "version 1 stays intact"
    assert second.run_id != first.run_id


def test_tracking_disabled_and_env_uri(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    assert tracking_uri(None, tmp_path) == "sqlite:///elsewhere.db"
    assert tracking_uri("http://127.0.0.1:5000", tmp_path) == "http://127.0.0.1:5000"
    cfg = load_config(
        ROOT / "configs" / "digits_cnn.yaml",
        [
            "train.epochs=1",
            "tracking.enabled=false",
            "export.tflite=false",
            f"output_dir={tmp_path}",
        ],
    )
    result = train(cfg)
    assert result.run_id is None
    assert not (tmp_path / "mlflow.db").exists()
    assert result.published.tflite_path is None
