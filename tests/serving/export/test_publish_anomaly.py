"""The anomaly_detection serving contract: raw pixels in; reconstruction, score and flag out."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.edge.runtime import EdgeModel
from kerasforge.serving.export import publish as export
from kerasforge.serving.export.tflite import ExportData, TFLiteOptions
from tests.conftest import ROOT

pytestmark = pytest.mark.heavy  # exports, servers or training in its fixtures

CONFIG = ROOT / "configs" / "digits_conv_autoencoder.yaml"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A tiny untrained conv autoencoder with its threshold fitted, published with TFLite."""
    from kerasforge.pipelines.config.experiment import load_config
    from kerasforge.pipelines.tasks import get_task
    from kerasforge.pipelines.training.train import build_task_model, load_splits

    cfg = load_config(CONFIG, ["model.options.filters=[4, 4]", "model.options.latent_dim=4"])
    task = get_task(cfg.task.name, cfg.task.options)
    splits = load_splits(cfg, task)
    model = build_task_model(cfg, task, splits)
    task.fit_threshold(model, splits.x_val)
    card = task.card(cfg.model.name, splits.info)
    out = tmp_path_factory.mktemp("anomaly")
    published = export.publish(
        model,
        out,
        "anomaly",
        card=card,
        tflite=TFLiteOptions(("float32",)),
        data=ExportData.from_splits(splits),
    )
    return model, task, splits, published


def _keras_outputs(model, x):
    reconstruction = model.predict(x, verbose=0)
    return reconstruction, np.mean(np.square(reconstruction - x).reshape(len(x), -1), axis=1)


def test_signature_matches_keras_on_raw_pixels_with_the_tasks_threshold(exported):
    import tensorflow as tf

    model, task, splits, published = exported
    x = splits.x_test[:40].astype("float32")  # raw 0-255 pixels, normal digits and sevens
    loaded = tf.saved_model.load(str(published.path))
    out = loaded.signatures["serving_default"](pixels=tf.constant(x))
    reconstruction, score = _keras_outputs(model, x)
    np.testing.assert_allclose(out["reconstruction"].numpy(), reconstruction, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out["anomaly_score"].numpy(), score, rtol=1e-5, atol=1e-5)
    assert out["is_anomaly"].dtype == tf.bool
    np.testing.assert_array_equal(out["is_anomaly"].numpy(), score > task.threshold)
    in_graph = [v for v in loaded.variables if "threshold" in v.name]
    assert [float(v.numpy()) for v in in_graph] == [pytest.approx(task.threshold, rel=1e-6)], [
        v.name for v in loaded.variables
    ]
    assert task.threshold > 0


def test_card_describes_the_three_outputs_and_the_threshold(exported):
    _, task, _, published = exported
    card = published.card
    signature = card.signature()
    assert signature.input().name == "pixels" and signature.input().shape == [None, 8, 8, 1]
    outputs = {t.name: (t.dtype, t.shape) for t in signature.outputs}
    assert outputs == {
        "anomaly_score": ("float32", [None]),
        "is_anomaly": ("bool", [None]),
        "reconstruction": ("float32", [None, 8, 8, 1]),
    }
    assert card.headline.metric == "roc_auc"
    assert card.data["anomaly"]["threshold"] == task.threshold
    assert card.data["anomaly"]["threshold_quantile"] == 0.99


def test_tflite_agrees_with_keras_and_the_edge_formats_score_and_flag(exported):
    from kerasforge.serving.edge.formats import format_outputs

    model, task, splits, published = exported
    x = splits.x_test[:16].astype("float32")
    edge = EdgeModel(published.path / "model.tflite")
    outputs = edge.outputs(x)
    reconstruction, score = _keras_outputs(model, x)
    np.testing.assert_allclose(outputs["reconstruction"], reconstruction, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(outputs["anomaly_score"], score, rtol=1e-4)
    answer = format_outputs(outputs, published.card)
    assert set(answer) == {"anomaly_score", "is_anomaly"}
    assert answer["is_anomaly"] == (np.asarray(answer["anomaly_score"]) > task.threshold).tolist()
    assert all(isinstance(flag, bool) for flag in answer["is_anomaly"])


def test_republishing_the_checkpoint_keeps_the_threshold(exported, tmp_path):
    """`kerasforge export` loads the custom threshold layer and keeps its value."""
    import tensorflow as tf

    from kerasforge.serving.card import write_card

    model, task, _, published = exported
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    model.save(tmp_path / "run" / "checkpoints" / "best.keras")
    write_card(tmp_path / "run", published.card)
    again = export.publish_checkpoint(
        tmp_path / "run" / "checkpoints" / "best.keras", tmp_path / "repo", "again", tflite=False
    )
    loaded = tf.saved_model.load(str(again.path))
    in_graph = [float(v.numpy()) for v in loaded.variables if "threshold" in v.name]
    assert in_graph == [pytest.approx(task.threshold, rel=1e-6)]
