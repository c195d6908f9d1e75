"""Publishing: TF Serving's layout, the task's signatures, the model card, atomic versions."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge.serving import repository
from kerasforge.serving.card import read_card
from kerasforge.serving.export import publish as export
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def tiny(published):
    return published.model, published.published.card


@pytest.mark.heavy
def test_publish_writes_tf_serving_layout_with_versions_counting_up(tiny, tmp_path):
    model, card = tiny
    first = export.publish(model, tmp_path, "digits", card=card)
    second = export.publish(model, tmp_path, "digits", card=card, tflite=False)
    assert (first.version, second.version) == (1, 2)
    assert (tmp_path / "digits" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "digits" / "1" / "variables").is_dir()
    assert first.tflite_path == tmp_path / "digits" / "1" / "model.tflite"
    assert first.tflite_path.stat().st_size > 1000
    assert second.tflite_path is None and not (second.path / "model.tflite").exists()
    assert repository.versions(tmp_path / "digits") == [1, 2]
    assert repository.model_names(tmp_path) == ["digits"]
    leftovers = [p.name for p in (tmp_path / "digits").iterdir() if not p.name.isdigit()]
    assert leftovers == []


def test_the_card_describes_task_signatures_and_versions(tiny, tmp_path):
    model, card = tiny
    published = export.publish(model, tmp_path, "digits", card=card, tflite=False)
    read = read_card(published.path)
    assert read == published.card
    assert (read.task, read.version, read.model_name) == ("classification", 1, "digits")
    assert read.class_names == [str(i) for i in range(10)]
    signature = read.signature("serving_default")
    pixels = signature.input("pixels")
    assert (pixels.dtype, pixels.shape, pixels.value_range) == (
        "float32",
        [None, 8, 8, 1],
        (0.0, 255.0),
    )
    assert [o.name for o in signature.outputs] == ["class_ids", "classes", "probabilities"]
    assert signature.outputs[0].dtype == "int64" and signature.outputs[2].shape == [None, 10]
    assert signature.outputs[1].dtype == "string" and signature.outputs[1].shape == [None]
    assert {"tensorflow", "keras"} <= set(read.versions)
    assert read.headline.metric == "accuracy"


def test_saved_model_signature_matches_keras(tiny, tmp_path):
    import tensorflow as tf

    model, card = tiny
    published = export.publish(model, tmp_path, "digits", card=card, tflite=False)
    signature = tf.saved_model.load(str(published.path)).signatures["serving_default"]
    x = np.random.default_rng(0).uniform(0, 255, (5, 8, 8, 1)).astype("float32")
    out = signature(pixels=tf.constant(x))
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["class_ids"].numpy(), expected.argmax(-1))
    assert out["class_ids"].dtype == tf.int64
    assert out["classes"].numpy().tolist() == [str(i).encode() for i in expected.argmax(-1)]


@pytest.mark.heavy
def test_regression_exports_values_in_target_units(published_once):
    import tensorflow as tf

    tiny = published_once(ROOT / "configs" / "diabetes_mlp.yaml", [], tflite=False)
    signature = tf.saved_model.load(str(tiny.published.path)).signatures["serving_default"]
    x = tiny.splits.x_test[:6]
    values = signature(features=tf.constant(x))["values"].numpy()
    assert values.shape == (6,)
    np.testing.assert_allclose(values, tiny.model.predict(x, verbose=0)[:, 0], rtol=1e-5)
    card = tiny.published.card
    assert card.task == "regression" and card.headline.metric == "r2"
    assert card.signature().input("features").feature_names[:3] == ["age", "sex", "bmi"]


def test_a_version_number_taken_by_someone_else_is_skipped(tiny, tmp_path):
    model, card = tiny
    (tmp_path / "digits" / "1").mkdir(parents=True)  # claimed by a concurrent publish
    published = export.publish(model, tmp_path, "digits", card=card, tflite=False)
    assert published.version == 2


def test_a_failed_publish_leaves_no_version_and_no_staging(tiny, tmp_path, monkeypatch):
    model, card = tiny
    export.publish(model, tmp_path, "digits", card=card, tflite=False)

    def broken(*_args, **_kwargs):
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(export, "write_tflite", broken)
    with pytest.raises(RuntimeError, match="converter exploded"):
        export.publish(model, tmp_path, "digits", card=card)
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1"]
    assert (tmp_path / "digits" / "1" / "saved_model.pb").is_file(), "version 1 stays intact"


def test_card_from_a_newer_kerasforge_is_refused_clearly(tiny, tmp_path):
    from kerasforge.serving.card import CardError

    model, card = tiny
    published = export.publish(model, tmp_path, "digits", card=card, tflite=False)
    path = published.path / "kerasforge.json"
    raw = json.loads(path.read_text())
    path.write_text(json.dumps({**raw, "format": 99}))
    with pytest.raises(CardError, match="format 99, newer than this kerasforge reads"):
        read_card(published.path)
    path.write_text(json.dumps({**raw, "task": 5}))
    with pytest.raises(CardError, match=r"is malformed \(task.*not a kerasforge card"):
        read_card(published.path)
    path.write_text("{")
    with pytest.raises(CardError, match="not valid JSON"):
        read_card(published.path)
