"""A forecaster's export: raw windows in, forecasts in the target's units out, everywhere.

A tiny untrained LSTM on CO2 windows, published once: the card describes the
``window`` -> ``forecast`` signature; the SavedModel (1e-5) and the float32
TFLite (1e-4) answer what Keras does for raw (un-normalised) windows; the
embedded server and the edge runtime answer them unchanged.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving.card import read_card
from kerasforge.serving.clients.rest_client import RestClient
from tests.conftest import ROOT, ServerProcess, publish_untrained, run_edge

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures

WINDOW, HORIZON = 8, 2
TINY_CO2 = [
    "model.options.units=[4]",
    f"data.series.window={WINDOW}",
    f"data.series.horizon={HORIZON}",
    "data.series.stride=4",
]


@pytest.fixture(scope="module")
def forecaster(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("forecaster")
    return publish_untrained(ROOT / "configs" / "co2_lstm.yaml", TINY_CO2, out)


def test_card_describes_the_forecasting_signature(forecaster):
    card = read_card(forecaster.published.path)
    assert card.task == "forecasting" and card.headline.metric == "mase"
    signature = card.signature()
    (window,) = signature.inputs
    assert (window.name, window.dtype, window.shape) == ("window", "float32", [None, WINDOW, 1])
    assert window.feature_names == ["co2"]
    (forecast,) = signature.outputs
    assert (forecast.name, forecast.dtype, forecast.shape) == ("forecast", "float32", [None, 2])
    assert card.target_names == ["co2"]
    assert "raw, un-normalised windows" in card.preprocessing["normalization"]
    assert card.tflite["variants"]["float32"]["select_tf_ops"] is False, "builtins only"


def test_raw_windows_through_savedmodel_and_tflite_match_keras(forecaster):
    import tensorflow as tf

    from kerasforge.serving.edge.runtime import EdgeModel

    x = forecaster.splits.x_test[:16]
    assert x.min() > 300, "raw CO2 in ppm, not normalised"
    expected = forecaster.model.predict(x, verbose=0)
    assert expected.shape == (len(x), HORIZON)
    path = forecaster.published.path
    signature = tf.saved_model.load(str(path)).signatures["serving_default"]
    served = signature(window=tf.constant(x))["forecast"].numpy()
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)
    edge = EdgeModel(path / "tflite" / "float32.tflite")
    np.testing.assert_allclose(edge.outputs(x)["forecast"], expected, rtol=1e-4, atol=1e-4)
    parity = json.loads((path / "parity.json").read_text())
    assert parity["metric"] == "mase" and parity["keras_metric"] > 0


def test_rest_and_edge_answer_forecasts(forecaster, tmp_path):
    x = forecaster.splits.x_test[:3]
    expected = forecaster.model.predict(x, verbose=0)
    server = ServerProcess(forecaster.cfg.output_dir / "models")
    try:
        predictions = RestClient(server.url).predict("co2_lstm", x.tolist())
    finally:
        server.stop()
    np.testing.assert_allclose(np.asarray(predictions, "float32"), expected, rtol=1e-5, atol=1e-4)

    np.save(tmp_path / "windows.npy", x)
    tflite = str(forecaster.published.path / "model.tflite")
    edge = run_edge("predict", tflite, str(tmp_path / "windows.npy"))
    assert edge.returncode == 0, edge.stderr
    answer = json.loads(edge.stdout)
    assert answer["target_names"] == ["co2"]
    np.testing.assert_allclose(answer["forecast"], expected, rtol=1e-3, atol=0.05)  # edge model
    bad = tmp_path / "flat.npy"
    np.save(bad, np.zeros((2, WINDOW), "float32"))
    edge = run_edge("predict", tflite, str(bad))
    assert edge.returncode == 2 and f"expected examples of shape [{WINDOW}, 1]" in edge.stderr
