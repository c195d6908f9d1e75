"""A forecaster as a user runs it: train (2 epochs, tiny) -> publish -> REST -> edge."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving.clients.rest_client import RestClient
from tests.conftest import ROOT, ServerProcess, run_edge

pytestmark = pytest.mark.heavy


def test_train_publish_serve_and_run_on_the_edge(tmp_path):
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.training.train import train

    cfg = load_config(
        ROOT / "configs" / "sunspots_gru.yaml",
        [
            "train.epochs=2",
            "model.options.units=[4]",
            "data.series.window=6",
            "export.tflite.variants=[float32]",
            f"output_dir={tmp_path}",
        ],
    )
    result = train(cfg)
    assert set(result.test_metrics) >= {"test_mase", "test_naive_mae", "test_mae", "test_loss"}
    assert result.headline[0] == "mase" and result.card.metrics["test_mase"] > 0
    assert (result.run_dir / "tracking" / "forecast.png").is_file()
    assert result.published is not None

    x = result.splits.x_test[:4]
    expected = result.model.predict(x, verbose=0)
    assert expected.shape == (4, 3)
    server = ServerProcess(tmp_path / "models")
    try:
        predictions = RestClient(server.url).predict("sunspots_gru", x.tolist())
    finally:
        server.stop()
    np.testing.assert_allclose(np.asarray(predictions), expected, rtol=1e-5, atol=1e-4)

    np.save(tmp_path / "windows.npy", x)
    edge = run_edge("predict", str(result.published.tflite_path), str(tmp_path / "windows.npy"))
    assert edge.returncode == 0, edge.stderr
    np.testing.assert_allclose(json.loads(edge.stdout)["forecast"], expected, atol=1e-3)
