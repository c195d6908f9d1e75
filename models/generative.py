"""Generative Keras models with their own ``train_step``: a VAE and a DCGAN.

Both take and give raw 0-255 pixels (scaling is inside their sub-models), so
the exported graphs need no preprocessing by clients. Each overrides
``train_step`` and ``test_step`` and exposes its loss trackers through
``metrics``, so ``fit``, ``evaluate``, callbacks, progress bars and the MLflow
tracking callback see them as ordinary metrics. Every random draw comes from a
seeded ``keras.random.SeedGenerator``.

Imported on first use (``vae``/``dcgan`` builders, ``models.load_model``): it
imports Keras and TensorFlow, which the registry must not.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

PIXEL_MAX = 255.0


def with_parts_deserialized(config: dict[str, Any], parts: tuple[str, ...]) -> dict[str, Any]:
    """``config`` with its serialized sub-models (``parts``) rebuilt, for ``from_config``."""
    return {**config, **{p: keras.saving.deserialize_keras_object(config[p]) for p in parts}}


"""Raw image inputs are 8-bit pixels (the project's convention for every image input)."""


def _squared_error_sum(x: Any, y: Any) -> Any:
    """Sum over pixels of the squared error on [0, 1]-scaled pixels, one value per example."""
    diff = (tf.cast(x, "float32") - tf.cast(y, "float32")) / PIXEL_MAX
    return tf.reduce_sum(tf.reshape(tf.square(diff), [tf.shape(diff)[0], -1]), axis=-1)


def _penalties(model: keras.Model) -> Any:
    """The regularisation losses of ``model``'s layers (``train.l2``), 0 when there are none."""
    return tf.add_n(model.losses) if model.losses else tf.constant(0.0)


def _images(data: Any) -> Any:
    """The images of a batch that may come as ``x`` or ``(x, y)`` / ``(x, y, weights)``."""
    return tf.cast(data[0] if isinstance(data, tuple | list) else data, "float32")


@keras.saving.register_keras_serializable(package="kerasforge")
class VAE(keras.Model):
    """A variational autoencoder over an ``encoder`` (pixels -> mean, log-variance) and a
    ``decoder`` (latent -> pixels).

    Calling it reconstructs its input deterministically from the posterior mean.
    Training samples ``z = mean + exp(log_var / 2) * eps`` (the reparameterisation)
    and minimises ``reconstruction_loss + beta * kl_loss``: the summed squared error
    of [0, 1]-scaled pixels and the KL divergence from the unit Gaussian prior, each
    averaged over the batch. Evaluation measures the reconstruction of the mean.

    Args:
        encoder: a model from images to ``[z_mean, z_log_var]``.
        decoder: a model from latent vectors to images in 0-255.
        beta: weight of the KL term.
        seed: seed of the reparameterisation noise.
    """

    def __init__(
        self,
        encoder: keras.Model,
        decoder: keras.Model,
        beta: float = 1.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.seed = float(beta), int(seed)
        self.latent_dim = int(decoder.inputs[0].shape[-1])
        self.image_shape = tuple(int(d) for d in encoder.inputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="noise_seed")
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_tracker = keras.metrics.Mean(name="kl_loss")
        self.built = True  # its sub-models are built; nothing to create on first call

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.loss_tracker, self.reconstruction_tracker, self.kl_tracker]

    def call(self, inputs: Any, training: bool = False) -> Any:
        z_mean, _ = self.encoder(inputs, training=training)
        return self.decoder(z_mean, training=training)

    def losses_of(self, x: Any, sample: bool) -> tuple[Any, Any]:
        """Batch means of the reconstruction loss and the KL divergence for images ``x``."""
        z_mean, z_log_var = self.encoder(x, training=sample)
        z = z_mean
        if sample:
            noise = keras.random.normal(tf.shape(z_mean), seed=self.seed_generator)
            z = z_mean + tf.exp(0.5 * z_log_var) * noise
        reconstruction = tf.reduce_mean(_squared_error_sum(x, self.decoder(z, training=sample)))
        kl = -0.5 * (1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var))
        return reconstruction, tf.reduce_mean(tf.reduce_sum(kl, axis=-1))

    def _track(self, reconstruction: Any, kl: Any, count: Any) -> dict[str, Any]:
        """Update the trackers with batch means weighted by the batch's ``count`` of images,
        so an epoch's figure is the mean over its images (a short last batch counts less)."""
        self.loss_tracker.update_state(reconstruction + self.beta * kl, sample_weight=count)
        self.reconstruction_tracker.update_state(reconstruction, sample_weight=count)
        self.kl_tracker.update_state(kl, sample_weight=count)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        x = _images(data)
        with tf.GradientTape() as tape:
            reconstruction, kl = self.losses_of(x, sample=True)
            total = reconstruction + self.beta * kl + _penalties(self)
        gradients = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        return self._track(reconstruction, kl, tf.shape(x)[0])

    def test_step(self, data: Any) -> dict[str, Any]:
        x = _images(data)
        return self._track(*self.losses_of(x, sample=False), tf.shape(x)[0])

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> VAE:
        return cls(**with_parts_deserialized(config, ("encoder", "decoder")))


def _bce_with_logits(labels_value: float, logits: Any) -> Any:
    labels = tf.fill(tf.shape(logits), labels_value)
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits))


@keras.saving.register_keras_serializable(package="kerasforge")
class DCGAN(keras.Model):
    """A DCGAN: a ``generator`` (latent -> pixels in 0-255) against a ``discriminator``
    (pixels -> one logit, real or generated).

    Calling it generates images from latent vectors. Each training step first
    updates the discriminator on a batch of real images and as many generated
    ones (``discriminator_loss``: binary cross-entropy on the real batch plus on
    the generated one, ``ln 4 = 1.386`` when it cannot tell them apart), then the
    generator through the discriminator (``generator_loss``: cross-entropy of its
    images labelled real). The optimizer given to ``compile`` trains the generator;
    the discriminator gets a fresh optimizer with the same configuration.

    Args:
        generator: a model from latent vectors to images in 0-255.
        discriminator: a model from images in 0-255 to one logit per image.
        seed: seed of the latent draws.
    """

    def __init__(
        self, generator: keras.Model, discriminator: keras.Model, seed: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.generator, self.discriminator = generator, discriminator
        self.seed = int(seed)
        self.latent_dim = int(generator.inputs[0].shape[-1])
        self.image_shape = tuple(int(d) for d in generator.outputs[0].shape[1:])
        self.seed_generator = keras.random.SeedGenerator(self.seed, name="latent_seed")
        self.discriminator_optimizer: keras.optimizers.Optimizer | None = None
        self.generator_tracker = keras.metrics.Mean(name="generator_loss")
        self.discriminator_tracker = keras.metrics.Mean(name="discriminator_loss")
        self.built = True  # its sub-models are built; nothing to create on first call

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [self.generator_tracker, self.discriminator_tracker]

    def compile(self, optimizer: Any = "adam", **kwargs: Any) -> None:
        super().compile(optimizer=optimizer, **kwargs)
        opt = self.optimizer
        opt.build(self.generator.trainable_variables)  # it never updates the discriminator
        self.discriminator_optimizer = opt.__class__.from_config(opt.get_config())
        self.discriminator_optimizer.build(self.discriminator.trainable_variables)

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile a loaded model as it was saved (its own ``compile`` adds the second
        optimizer)."""
        self.compile(**keras.saving.deserialize_keras_object(config))

    def call(self, inputs: Any, training: bool = False) -> Any:
        return self.generator(inputs, training=training)

    def _latents(self, count: Any) -> Any:
        return keras.random.normal((count, self.latent_dim), seed=self.seed_generator)

    def _discriminator_loss(self, real: Any, training: bool) -> Any:
        fake = self.generator(self._latents(tf.shape(real)[0]), training=training)
        real_logits = self.discriminator(real, training=training)
        fake_logits = self.discriminator(fake, training=training)
        return _bce_with_logits(1.0, real_logits) + _bce_with_logits(0.0, fake_logits)

    def _generator_loss(self, count: Any, training: bool) -> Any:
        fake = self.generator(self._latents(count), training=training)
        return _bce_with_logits(1.0, self.discriminator(fake, training=training))

    def _track(self, generator_loss: Any, discriminator_loss: Any, count: Any) -> dict[str, Any]:
        self.generator_tracker.update_state(generator_loss, sample_weight=count)
        self.discriminator_tracker.update_state(discriminator_loss, sample_weight=count)
        return {m.name: m.result() for m in self.metrics}

    def train_step(self, data: Any) -> dict[str, Any]:
        if self.discriminator_optimizer is None:
            raise RuntimeError("DCGAN: call compile() before fit()")
        real = _images(data)
        weights = self.discriminator.trainable_weights
        with tf.GradientTape() as tape:
            d_loss = self._discriminator_loss(real, training=True)
            penalized = d_loss + _penalties(self.discriminator)
        self.discriminator_optimizer.apply_gradients(
            zip(tape.gradient(penalized, weights), weights, strict=True)
        )
        weights = self.generator.trainable_weights
        with tf.GradientTape() as tape:
            g_loss = self._generator_loss(tf.shape(real)[0], training=True)
            penalized = g_loss + _penalties(self.generator)
        self.optimizer.apply_gradients(zip(tape.gradient(penalized, weights), weights, strict=True))
        return self._track(g_loss, d_loss, tf.shape(real)[0])

    def test_step(self, data: Any) -> dict[str, Any]:
        real = _images(data)
        d_loss = self._discriminator_loss(real, training=False)
        count = tf.shape(real)[0]
        return self._track(self._generator_loss(count, training=False), d_loss, count)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "discriminator": keras.saving.serialize_keras_object(self.discriminator),
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> DCGAN:
        return cls(**with_parts_deserialized(config, ("generator", "discriminator")))
