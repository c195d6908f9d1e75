"""Training end to end on the shrunk default experiment: metrics, checkpoints, MLflow, publish."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import yaml

from kerasforge.pipelines.config.experiment import load_config
from kerasforge.pipelines.tracking.run import tracking_uri
from kerasforge.pipelines.training.train import train
from kerasforge.serving.card import read_card
from kerasforge.serving.clients.rest_client import RestClient
from tests.conftest import QUICK, ROOT, ServerProcess, run_edge, tracking_at

pytestmark = pytest.mark.heavy


def test_training_learns_and_keeps_its_work(trained):
    cfg, result = trained
    assert result.test_metrics["test_accuracy"] >= 0.85  # 6 epochs; the full default reaches 0.97+
    assert 1 <= result.epochs_run <= cfg.train.epochs
    assert (result.run_dir / "checkpoints" / "best.keras").is_file()
    saved = yaml.safe_load((result.run_dir / "config.yaml").read_text())
    assert saved == cfg.to_dict(), "the resolved config is saved with the run"
    card = read_card(result.run_dir)
    assert card.task == "classification" and card.architecture == "digits_cnn"
    assert card.class_names == [str(i) for i in range(10)]
    assert card.data["value_range"] == [0.0, 255.0]
    assert card.metrics["test_accuracy"] == pytest.approx(result.test_metrics["test_accuracy"])
    assert card.run_id == result.run_id
    assert result.headline == ("accuracy", result.test_metrics["test_accuracy"])
    evaluation = result.run_dir / "evaluation"
    assert (evaluation / "confusion_matrix.csv").is_file()
    assert (evaluation / "classification_report.json").is_file()
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
    assert {"config.yaml", "model", "evaluation"} <= artifacts
    with tracking_at(uri):
        model_files = {a.path for a in client.list_artifacts(result.run_id, "model")}
    assert {"model/saved_model.pb", "model/model.tflite", "model/kerasforge.json"} <= model_files
    local = mlflow.artifacts.download_artifacts(
        run_id=result.run_id, artifact_path="config.yaml", tracking_uri=uri
    )
    assert yaml.safe_load(Path(local).read_text()) == cfg.to_dict()
    artifact_root = client.get_experiment(run.info.experiment_id).artifact_location
    assert str(cfg.output_dir.resolve()) in artifact_root, "artifacts stay inside the project"


def test_a_second_run_publishes_the_next_version(trained, tmp_path):
    cfg, first = trained
    out = tmp_path / "out"  # a copy: the shared trained repository keeps one version
    shutil.copytree(cfg.output_dir, out)
    again = load_config(
        ROOT / "configs" / "digits_cnn.yaml",
        [*QUICK, "train.epochs=1", f"output_dir={out}"],
    )
    second = train(again)
    assert second.published.version == first.published.version + 1
    kept = out / first.published.path.relative_to(cfg.output_dir) / "saved_model.pb"
    assert kept.is_file(), "version 1 stays intact"
    assert second.run_id != first.run_id


def test_tracking_disabled_and_env_uri(tmp_path):
    with mock.patch.dict(os.environ, {"MLFLOW_TRACKING_URI": "sqlite:///elsewhere.db"}):
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


def test_data_classes_train_a_classifier_of_those_classes_only(tmp_path):
    cfg = load_config(
        ROOT / "configs" / "digits_cnn.yaml",
        ["train.epochs=1", "tracking.enabled=false", "export.enabled=false",
         "data.classes=[5, 6, 7, 8, 9]", f"output_dir={tmp_path}"],
    )  # fmt: skip
    result = train(cfg)
    assert result.card.class_names == ["5", "6", "7", "8", "9"]
    assert result.model.outputs[0].shape[-1] == 5
    assert set(result.splits.y_test.tolist()) == set(range(5))
    assert sum(result.splits.sizes.values()) == 896  # digits 5-9: 182 + 181 + 179 + 174 + 180


def test_regression_end_to_end_beats_the_mean_and_agrees_everywhere(tmp_path, capsys):
    """diabetes_mlp: train -> MLflow -> SavedModel -> REST -> TFLite edge, within 1e-4."""
    import tensorflow as tf

    cfg = load_config(ROOT / "configs" / "diabetes_mlp.yaml", [f"output_dir={tmp_path}"])
    result = train(cfg)
    assert re.search(r"^test r2: -?\d\.\d{4}$", capsys.readouterr().out, re.MULTILINE)
    metrics = result.test_metrics
    assert metrics["test_mae"] < metrics["test_baseline_mae"], "beats predicting the mean"
    assert metrics["test_r2"] > 0.3
    x = result.splits.x_test[:16]
    keras_values = result.model.predict(x, verbose=0)[:, 0]
    signature = tf.saved_model.load(str(result.published.path)).signatures["serving_default"]
    saved_values = signature(features=tf.constant(x))["values"].numpy()
    server = ServerProcess(tmp_path / "models")
    try:
        rest_values = RestClient(server.url).predict("diabetes_mlp", x.tolist())
    finally:
        server.stop()
    np.save(tmp_path / "rows.npy", x)
    float32 = result.published.path / "tflite" / "float32.tflite"  # exact; the edge model may be
    edge = run_edge("predict", str(float32), str(tmp_path / "rows.npy"))  # quantized (budget)
    edge_values = json.loads(edge.stdout)["values"]
    report = result.published.parity
    assert report.edge_model and report.rows[0].max_abs_diff <= 1e-4
    for other in (saved_values, rest_values, edge_values):
        np.testing.assert_allclose(other, keras_values, rtol=1e-4, atol=1e-4)


def test_tabular_classification_end_to_end(tmp_path):
    """breast_cancer_mlp: the MLP gets the softmax head; Keras, SavedModel and edge agree."""
    import tensorflow as tf

    cfg = load_config(
        ROOT / "configs" / "breast_cancer_mlp.yaml", [f"output_dir={tmp_path}", "train.epochs=15"]
    )
    result = train(cfg)
    assert result.test_metrics["test_accuracy"] >= 0.9
    assert result.card.class_names == ["malignant", "benign"]
    assert len(result.card.signature().input("features").feature_names) == 30
    x = result.splits.x_test[:16]
    probabilities = result.model.predict(x, verbose=0)
    signature = tf.saved_model.load(str(result.published.path)).signatures["serving_default"]
    saved = signature(features=tf.constant(x))
    np.testing.assert_allclose(saved["probabilities"].numpy(), probabilities, atol=1e-5)
    np.save(tmp_path / "rows.npy", x)
    float32 = result.published.path / "tflite" / "float32.tflite"
    edge = run_edge("predict", str(float32), str(tmp_path / "rows.npy"))
    answer = json.loads(edge.stdout)
    assert answer["class_ids"] == probabilities.argmax(-1).tolist()
    assert set(answer["class_names"]) <= {"malignant", "benign"}
