"""Anomaly detection as a user runs it: train -> publish -> REST server -> edge runtime.

A tiny dense autoencoder, two epochs: the flags and scores served over REST and
printed by the edge runtime must match the Keras model and the stored threshold.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.e2e import edge_predict, rest_predict, trained_fixture, write_inputs

pytestmark = pytest.mark.heavy

TINY = [
    "train.epochs=2",
    "model.options.widths=[16]",
    "model.options.latent_dim=4",
    "export.tflite.variants=[float32]",
]

trained = trained_fixture("digits_dense_autoencoder.yaml", TINY)


def test_training_reports_roc_auc_and_publishes_the_threshold(trained):
    _, result = trained
    assert result.headline[0] == "roc_auc" and 0.0 <= result.headline[1] <= 1.0
    threshold = result.card.data["anomaly"]["threshold"]
    assert threshold == result.task.threshold > 0
    assert result.card.metrics["test_threshold"] == pytest.approx(threshold)
    from kerasforge import models

    checkpoint = models.load_model(result.run_dir / "checkpoints" / "best.keras")  # for export
    assert float(checkpoint.get_layer("score_threshold").threshold.numpy()) == pytest.approx(
        threshold
    )
    evaluation = result.run_dir / "evaluation"
    assert {"anomaly_report.json", "anomaly_scores.png", "reconstructions.png"} <= {
        p.name for p in evaluation.iterdir()
    }


def test_rest_and_edge_answer_scores_and_flags_as_keras(trained, tmp_path):
    _, result = trained
    x = result.splits.x_test[:12].astype("float32")
    reconstruction = result.model.predict(x, verbose=0)
    score = np.mean(np.square(reconstruction - x).reshape(len(x), -1), axis=1)
    flags = (score > result.task.threshold).tolist()

    predictions = rest_predict(trained.models, trained.model_name, x.tolist())
    assert [p["is_anomaly"] for p in predictions] == flags  # JSON true/false, as TF Serving
    assert all(isinstance(p["is_anomaly"], bool) for p in predictions)
    np.testing.assert_allclose([p["anomaly_score"] for p in predictions], score, rtol=1e-5)
    np.testing.assert_allclose(
        [p["reconstruction"] for p in predictions], reconstruction, rtol=1e-5, atol=1e-3
    )

    batch = write_inputs(tmp_path / "batch.npy", x)
    answer = edge_predict(result.published.path / "model.tflite", batch)
    assert {"anomaly_score", "is_anomaly"} <= set(answer)
    np.testing.assert_allclose(answer["anomaly_score"], score, rtol=1e-4)
    # Flags from the threshold in the .tflite graph (scores may differ in the 5th digit).
    assert (
        answer["is_anomaly"] == (np.array(answer["anomaly_score"]) > result.task.threshold).tolist()
    )
