"""The zoo's custom layer and the classification task's binary sigmoid head."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models
from kerasforge.pipelines.data.types import DataInfo
from kerasforge.pipelines.errors import DataError
from kerasforge.pipelines.tasks import get_task


def test_local_response_normalization_matches_tensorflow_and_round_trips(tmp_path):
    import keras
    import tensorflow as tf

    from kerasforge.models.layers import LocalResponseNormalization

    x = np.random.default_rng(0).normal(size=(2, 5, 5, 16)).astype("float32") * 30
    layer = LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-3, beta=0.75, name="lrn")
    expected = tf.nn.local_response_normalization(x, 2, bias=2.0, alpha=1e-3, beta=0.75)
    np.testing.assert_allclose(layer(x), expected.numpy(), rtol=1e-5)
    model = keras.Sequential([keras.Input((5, 5, 16)), layer])
    model.save(tmp_path / "lrn.keras")
    restored = models.load_model(tmp_path / "lrn.keras")
    assert restored.layers[0].get_config()["alpha"] == pytest.approx(1e-3)
    np.testing.assert_allclose(restored.predict(x, verbose=0), expected.numpy(), rtol=1e-5)


def _binary(classes=("malignant", "benign")):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 4)).astype("float32")
    return x, np.arange(12) % len(classes), DataInfo("t", "tabular", "classes", classes)


def test_sigmoid_head_outputs_both_class_probabilities():
    x, y, info = _binary()
    task = get_task("classification", {"head": "sigmoid"})
    task.check_data(info)
    backbone = models.build_model("mlp", input_shape=(4,), batch_norm=True, l2=1e-4)
    model = task.assemble(backbone, models.get_entry("mlp"), info, x, y)
    assert model.get_layer("positive_probability").units == 1
    out = model.predict(x, verbose=0)
    assert out.shape == (12, 2)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-6)
    assert len(model.losses) == 2, "one L2 penalty per dense block"


def test_sigmoid_head_refuses_more_than_two_classes():
    _, _, info = _binary(("a", "b", "c"))
    with pytest.raises(DataError, match="sigmoid is a binary head and needs exactly 2 classes"):
        get_task("classification", {"head": "sigmoid"}).check_data(info)


def test_efficientnet_takes_standardised_inputs_unscaled_and_a_bn_momentum(tmp_path):
    """Keras's EfficientNet divides by 255; behind the task's standardisation that left
    inference constant (digits: 0.10 test accuracy while training reached 0.89)."""
    import keras

    tiny = {"input_shape": (32, 32, 3), "num_classes": 3, "width_scale": 0.1, "depth_scale": 0.1}
    model = models.build_model("efficientnet_b0", bn_momentum=0.9, **tiny)
    network = model.get_layer("efficientnet_b0_network")
    norms = [lay for lay in network.layers if isinstance(lay, keras.layers.BatchNormalization)]
    assert norms and {lay.momentum for lay in norms} == {0.9}
    with pytest.raises(ValueError, match="bn_momentum"):
        models.build_model("efficientnet_b0", bn_momentum=1.0, **tiny)
    (rescaling,) = [lay for lay in network.layers if isinstance(lay, keras.layers.Rescaling)]
    x = np.random.default_rng(0).standard_normal((2, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(rescaling(x)), x)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    loaded_norms = loaded.get_layer("efficientnet_b0_network").layers
    assert {lay.momentum for lay in loaded_norms if hasattr(lay, "moving_mean")} == {0.9}
