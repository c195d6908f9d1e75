from __future__ import annotations

import json

import numpy as np
import pytest

from kerasforge import models
from kerasforge.serving import export, repository


@pytest.fixture(scope="module")
def tiny_model():
    return models.build_model("digits_cnn", filters=(4,), dense_units=8)


def test_publish_writes_tf_serving_layout_with_versions_counting_up(tiny_model, tmp_path):
    first = export.publish(tiny_model, tmp_path, "digits", metadata={"class_names": ["a"]})
    second = export.publish(tiny_model, tmp_path, "digits", tflite=False)
    assert (first.version, second.version) == (1, 2)
    assert (tmp_path / "digits" / "1" / "saved_model.pb").is_file()
    assert (tmp_path / "digits" / "1" / "variables").is_dir()
    assert first.tflite_path == tmp_path / "digits" / "1" / "model.tflite"
    assert first.tflite_path.stat().st_size > 1000
    assert second.tflite_path is None and not (second.path / "model.tflite").exists()
    assert repository.versions(tmp_path / "digits") == [1, 2]
    assert repository.model_names(tmp_path) == ["digits"]
    card = json.loads((first.path / "kerasforge.json").read_text())
    assert card["version"] == 1 and card["class_names"] == ["a"]
    assert card["inputs"] == {"pixels": {"shape": [None, 8, 8, 1], "dtype": "float32"}}
    leftovers = [p.name for p in (tmp_path / "digits").iterdir() if not p.name.isdigit()]
    assert leftovers == []


def test_saved_model_signature_matches_keras(tiny_model, tmp_path):
    import tensorflow as tf

    published = export.publish(tiny_model, tmp_path, "digits", tflite=False)
    signature = tf.saved_model.load(str(published.path)).signatures["serving_default"]
    x = np.random.default_rng(0).uniform(0, 16, (5, 8, 8, 1)).astype("float32")
    out = signature(pixels=tf.constant(x))
    expected = tiny_model.predict(x, verbose=0)
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out["class_ids"].numpy(), expected.argmax(-1))
    assert out["class_ids"].dtype == tf.int64


def test_a_version_number_taken_by_someone_else_is_skipped(tiny_model, tmp_path):
    (tmp_path / "digits" / "1").mkdir(parents=True)  # claimed by a concurrent publish
    published = export.publish(tiny_model, tmp_path, "digits", tflite=False)
    assert published.version == 2


def test_a_failed_publish_leaves_no_version_and_no_staging(tiny_model, tmp_path, monkeypatch):
    export.publish(tiny_model, tmp_path, "digits", tflite=False)

    def broken(*_args, **_kwargs):
        raise RuntimeError("converter exploded")

    monkeypatch.setattr(export, "write_tflite", broken)
    with pytest.raises(RuntimeError, match="converter exploded"):
        export.publish(tiny_model, tmp_path, "digits")
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["1"]
    assert (tmp_path / "digits" / "1" / "saved_model.pb").is_file(), "version 1 stays intact"
