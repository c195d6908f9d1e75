"""The parity report of a trained digits model: int8 keeps its accuracy, all of it in MLflow."""

from __future__ import annotations

import json

import pytest

from kerasforge.pipelines.tracking.run import tracking_uri
from tests.conftest import tracking_at


@pytest.mark.heavy
def test_trained_int8_agrees_with_keras_within_the_budget(trained):
    _cfg, result = trained
    report = result.published.parity
    rows = {r.model: r for r in report.rows}
    assert rows["int8"].agreement >= 0.99, report.table()
    assert rows["int8"].drop_points <= 1.0, report.table()
    assert rows["float16"].drop_points <= 0.1, report.table()
    assert rows["saved_model"].max_abs_diff <= 1e-5
    assert report.edge_model is not None
    chosen = rows[report.edge_model]
    assert chosen.drop_points <= report.budget_points
    sidecar = json.loads((result.published.path / "model.json").read_text())
    assert sidecar["variant"] == report.edge_model


@pytest.mark.heavy
def test_training_logs_the_parity_report_to_mlflow(trained):
    from mlflow.tracking import MlflowClient

    cfg, result = trained
    client = MlflowClient(tracking_uri=tracking_uri(None, cfg.output_dir))
    files = {a.path for a in client.list_artifacts(result.run_id, "parity")}
    assert files == {"parity/parity.json", "parity/parity.md"}
    with tracking_at(tracking_uri(None, cfg.output_dir)):
        model_files = {a.path for a in client.list_artifacts(result.run_id, "model/tflite")}
    assert "model/tflite/int8.tflite" in model_files and "model/tflite/int8.json" in model_files
    metrics = client.get_run(result.run_id).data.metrics
    int8 = {r.model: r for r in result.published.parity.rows}["int8"]
    assert metrics["parity_int8_agreement"] == pytest.approx(int8.agreement)
