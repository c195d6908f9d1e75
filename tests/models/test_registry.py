from __future__ import annotations

import re

import numpy as np
import pytest

from kerasforge import models
from kerasforge.models.registry import UnknownModelError


def test_list_models_is_sorted_and_filters_by_pattern():
    names = models.list_models()
    assert "digits_cnn" in names
    assert names == sorted(names)
    assert models.list_models("digits*") == ["digits_cnn"]
    assert models.list_models("no_such_*") == []


def test_unknown_name_lists_registered_models():
    with pytest.raises(UnknownModelError, match=r"unknown model 'resnet9000'.*digits_cnn"):
        models.build_model("resnet9000")


def test_duplicate_name_is_an_error():
    def digits_cnn():  # same name as a registered builder
        return None

    with pytest.raises(ValueError, match="already registered"):
        models.register_model(digits_cnn)


def test_builder_options_exclude_data_arguments():
    options = models.builder_options("digits_cnn")
    assert {"filters", "dense_units", "dropout"} <= set(options)
    assert "input_shape" not in options and "num_classes" not in options


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dropout": 1.5}, r"dropout must be in \[0, 1\); got 1.5"),
        ({"filters": ()}, "filters must be a non-empty list"),
        ({"num_classes": 1}, "num_classes must be at least 2; got 1"),
        ({"input_shape": (8, 8)}, r"input_shape must be \(height, width, channels\)"),
    ],
)
def test_bad_arguments_are_rejected_with_the_received_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_model("digits_cnn", **kwargs)


@pytest.mark.parametrize("name", models.list_models())
def test_every_model_builds_names_layers_and_trains(name, tmp_path):
    """Every registered model: named layers, .keras round trip, one step moves every weight."""
    import keras

    builder_defaults = models.builder_options(name)
    assert builder_defaults, f"{name} exposes no options"
    model = models.build_model(name, input_shape=(16, 16, 1), num_classes=3)
    unnamed = [layer.name for layer in model.layers if _auto_named(layer)]
    assert not unnamed, f"layers left with Keras' automatic names: {unnamed}"
    x = np.random.default_rng(0).random((8, 16, 16, 1), dtype="float32")
    y = np.arange(8) % 3
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = keras.models.load_model(path)
    np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0))

    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    before = [w.numpy().copy() for w in model.trainable_weights]
    model.train_on_batch(x, y)
    for old, new, var in zip(before, model.trainable_weights, model.trainable_weights, strict=True):
        assert not np.allclose(old, new.numpy()), f"{var.path} did not change after one step"


def _auto_named(layer) -> bool:
    """True when a layer kept Keras' generated name (``conv2d``, ``dense_3``, ...)."""
    snake = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type(layer).__name__).lower()
    return re.fullmatch(rf"{snake}(_\d+)?", layer.name) is not None
