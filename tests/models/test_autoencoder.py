"""The autoencoders: output shape equals input shape, named layers, training-only noise."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models


@pytest.mark.parametrize(
    ("name", "shape", "options"),
    [
        ("dense_autoencoder", (8, 8, 1), {"widths": (16,), "latent_dim": 4}),
        ("dense_autoencoder", (13,), {"widths": (8, 6), "latent_dim": 2}),
        ("conv_autoencoder", (8, 8, 1), {"filters": (4, 8), "latent_dim": 4}),
        ("conv_autoencoder", (7, 10, 3), {"filters": (4, 4), "latent_dim": 3}),  # pad + crop
    ],
)
def test_reconstruction_has_the_input_shape(name, shape, options):
    model = models.build_model(name, input_shape=shape, **options)
    x = np.random.default_rng(0).normal(size=(3, *shape)).astype("float32")
    assert model.predict(x, verbose=0).shape == (3, *shape)
    assert model.get_layer("latent").output.shape[-1] == options["latent_dim"]


@pytest.mark.parametrize("name", ["dense_autoencoder", "conv_autoencoder"])
def test_denoising_adds_noise_only_in_training(name):
    model = models.build_model(name, latent_dim=4, denoising=0.5)
    noise = model.get_layer("noise")
    x = np.ones((2, 8, 8, 1), "float32")
    np.testing.assert_array_equal(noise(x, training=False), x)
    assert not np.allclose(noise(x, training=True), x)
    # The whole model is deterministic at inference.
    np.testing.assert_array_equal(model(x, training=False), model(x, training=False))


def test_without_denoising_there_is_no_noise_layer():
    model = models.build_model("dense_autoencoder", latent_dim=4)
    assert "noise" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize("name", ["dense_autoencoder", "conv_autoencoder"])
def test_round_trips_through_a_keras_file(name, tmp_path):
    model = models.build_model(name, latent_dim=4, denoising=0.1)
    x = np.random.default_rng(1).normal(size=(4, 8, 8, 1)).astype("float32")
    path = tmp_path / f"{name}.keras"
    model.save(path)
    reloaded = models.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert [layer.name for layer in reloaded.layers] == [layer.name for layer in model.layers]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"latent_dim": 0}, "latent_dim must be at least 1; got 0"),
        ({"widths": ()}, "non-empty list of positive ints; got ()"),
        ({"denoising": -1.0}, "must be >= 0; got -1.0"),
        ({"input_shape": (8, 8)}, "input_shape must have 3 positive dimensions; got (8, 8)"),
    ],
)
def test_bad_arguments_name_the_received_value(kwargs, message):
    name = "conv_autoencoder" if "input_shape" in kwargs else "dense_autoencoder"
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        models.build_model(name, **kwargs)
