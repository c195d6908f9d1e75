"""The whole path as a user runs it: train -> publish -> SavedModel -> REST server -> TFLite.

All four must agree on the predicted classes for the same test inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.clients.rest_client import RestClient
from tests.conftest import run_cli
from tests.e2e import cli_predict, edge_predict, serving, write_inputs

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def trained_server(trained):
    cfg, _ = trained
    with serving(cfg.output_dir / "models") as proc:
        yield proc


def test_keras_savedmodel_rest_and_tflite_agree(trained, trained_server, tmp_path):
    import tensorflow as tf

    _, result = trained
    x = result.splits.x_test[:32]
    keras_classes = result.model.predict(x, verbose=0).argmax(-1).tolist()
    accuracy = float(np.mean(np.array(keras_classes) == result.splits.y_test[:32]))
    assert accuracy >= 0.8

    reloaded = tf.saved_model.load(str(result.published.path)).signatures["serving_default"]
    saved_classes = reloaded(pixels=tf.constant(x))["class_ids"].numpy().tolist()

    # Pinned: another test publishes a second version of the same experiment.
    version = result.published.version
    predictions = RestClient(trained_server.url).predict("digits_cnn", x.tolist(), version=version)
    rest_classes = [p["class_ids"] for p in predictions]

    float32 = result.published.path / "tflite" / "float32.tflite"  # the quantized edge model
    batch = write_inputs(tmp_path / "batch.npy", x)
    tflite_classes = edge_predict(float32, batch)["class_ids"]  # has its own parity

    assert saved_classes == keras_classes
    assert rest_classes == keras_classes
    assert tflite_classes == keras_classes


def test_kerasforge_predict_queries_the_server(trained, trained_server, tmp_path):
    server = trained_server
    _, result = trained
    x = result.splits.x_test[:5]
    five = write_inputs(tmp_path / "five.npy", x)
    for path in (five, result.sample_request):
        predictions = cli_predict(
            "--input", str(path), "--url", server.url, "--model", "digits_cnn", timeout=60
        )
        assert len(predictions["predictions"]) in (4, 5)
    version = str(result.published.version)  # another test publishes a second version
    pinned = cli_predict(
        "--input", str(five), "--url", server.url, "--version", version, "--model", "digits_cnn"
    )
    classes = [p["class_ids"] for p in pinned["predictions"]]
    assert classes == result.model.predict(x, verbose=0).argmax(-1).tolist()


def test_kerasforge_predict_reports_server_errors(trained_server, tmp_path):
    server = trained_server
    wrong = write_inputs(tmp_path / "wrong.npy", np.zeros((2, 3), "float32"))
    proc = run_cli("predict", "--input", str(wrong), "--url", server.url, "--model", "digits_cnn")
    assert proc.returncode == 2
    assert "expected shape [-1, 8, 8, 1]" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("predict", "--input", str(tmp_path / "missing.json"), "--url", server.url)
    assert proc.returncode == 2 and "not found" in proc.stderr
