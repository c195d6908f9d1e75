"""A forecaster as a user runs it: train (2 epochs, tiny) -> publish -> REST -> edge."""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e import edge_predict, rest_predict, train_config, write_inputs

pytestmark = pytest.mark.heavy

TINY = [
    "train.epochs=2",
    "model.options.units=[4]",
    "data.series.window=6",
    "export.tflite.variants=[float32]",
]


def test_train_publish_serve_and_run_on_the_edge(tmp_path):
    _, result = train_config("sunspots_gru.yaml", TINY, tmp_path)
    assert set(result.test_metrics) >= {"test_mase", "test_naive_mae", "test_mae", "test_loss"}
    assert result.headline[0] == "mase" and result.card.metrics["test_mase"] > 0
    assert (result.run_dir / "tracking" / "forecast.png").is_file()
    assert result.published is not None

    x = result.splits.x_test[:4]
    expected = result.model.predict(x, verbose=0)
    assert expected.shape == (4, 3)
    predictions = rest_predict(tmp_path / "models", "sunspots_gru", x.tolist())
    np.testing.assert_allclose(np.asarray(predictions), expected, rtol=1e-5, atol=1e-4)

    windows = write_inputs(tmp_path / "windows.npy", x)
    answer = edge_predict(result.published.tflite_path, windows)
    np.testing.assert_allclose(answer["forecast"], expected, atol=1e-3)
