"""The VAE and the DCGAN on tiny untrained models: arguments, calls, losses, trackers, saving."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge import models


def _images(n: int = 6) -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (n, 8, 8, 1)).astype("float32")


def _tiny(name: str):
    return models.build_model(name, **models.get_entry(name).tiny)


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("vae", {"latent_dim": 0}, "latent_dim must be at least 1; got 0"),
        ("vae", {"beta": -1.0}, "beta must be >= 0; got -1.0"),
        ("vae", {"widths": ()}, "widths must be a non-empty list"),
        ("dcgan", {"dropout": 1.5}, r"dropout must be in \[0, 1\); got 1.5"),
        ("dcgan", {"input_shape": (8, 8)}, r"input_shape must be \(height, width, channels\)"),
    ],
)
def test_bad_arguments_are_rejected_with_the_received_value(name, kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build_model(name, **kwargs)


def test_vae_reconstructs_from_the_posterior_mean_in_pixel_units():
    model, x = _tiny("vae"), _images()
    first, again = model.predict(x, verbose=0), model.predict(x, verbose=0)
    np.testing.assert_array_equal(first, again)  # no sampling when called
    assert first.shape == x.shape and first.min() >= 0.0 and first.max() <= 255.0
    z_mean, _ = model.encoder.predict(x, verbose=0)
    np.testing.assert_allclose(first, model.decoder.predict(z_mean, verbose=0), rtol=1e-6)


def test_vae_evaluation_reports_its_trackers_with_the_reconstruction_of_the_mean():
    import keras

    model, x = _tiny("vae"), _images(5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    assert [m.name for m in model.metrics] == ["loss", "reconstruction_loss", "kl_loss"]
    scores = model.evaluate(x, x, batch_size=2, return_dict=True, verbose=0)
    error = np.square((model.predict(x, verbose=0) - x) / 255.0).reshape(len(x), -1).sum(axis=1)
    # Batches of 2, 2 and 1: the trackers weight each batch by its size.
    assert scores["reconstruction_loss"] == pytest.approx(float(error.mean()), rel=1e-5)
    assert scores["kl_loss"] >= 0.0
    total = scores["reconstruction_loss"] + model.beta * scores["kl_loss"]
    assert scores["loss"] == pytest.approx(total)


def test_vae_train_step_samples_the_latent_and_moves_both_halves():
    import keras
    import tensorflow as tf

    model, x = _tiny("vae"), _images()
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    before = {w.path: w.numpy().copy() for w in model.trainable_weights}
    logs = model.train_step((tf.constant(x), tf.constant(x)))
    assert set(logs) == {"loss", "reconstruction_loss", "kl_loss"}
    moved = {w.path for w in model.trainable_weights if not np.array_equal(before[w.path], w)}
    assert any("z_log_var" in p for p in moved) and any("decoder" in p for p in moved)


def test_dcgan_generates_from_latents_and_trains_both_players():
    import keras
    import tensorflow as tf

    model = _tiny("dcgan")
    z = np.random.default_rng(1).standard_normal((3, model.latent_dim)).astype("float32")
    images = model.predict(z, verbose=0)
    assert images.shape == (3, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 255.0
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    assert model.discriminator_optimizer.get_config()["beta_1"] == 0.5
    assert model.discriminator_optimizer is not model.optimizer
    assert [m.name for m in model.metrics] == ["generator_loss", "discriminator_loss"]
    generator = [w.numpy().copy() for w in model.generator.trainable_weights]
    discriminator = [w.numpy().copy() for w in model.discriminator.trainable_weights]
    logs = model.train_step(tf.constant(_images()))
    assert set(logs) == {"generator_loss", "discriminator_loss"}
    for old, new in ((generator, model.generator), (discriminator, model.discriminator)):
        assert all(
            not np.array_equal(o, w) for o, w in zip(old, new.trainable_weights, strict=True)
        )


def test_a_compiled_dcgan_round_trips_with_its_optimizers(tmp_path):
    import keras

    model = _tiny("dcgan")
    model.compile(optimizer=keras.optimizers.Adam(2e-4, beta_1=0.5))
    model.save(tmp_path / "dcgan.keras")
    loaded = models.load_model(tmp_path / "dcgan.keras")
    assert loaded.latent_dim == model.latent_dim and loaded.seed == model.seed
    assert loaded.optimizer.get_config()["beta_1"] == 0.5
    assert loaded.discriminator_optimizer is not None
    z = np.ones((2, model.latent_dim), "float32")
    np.testing.assert_array_equal(loaded.predict(z, verbose=0), model.predict(z, verbose=0))
