"""Variational autoencoder (``vae``): dense encoder to a mean and log-variance, dense decoder.

Raw 0-255 pixels in, 0-255 pixels out: the encoder scales its input to [0, 1]
and the decoder's sigmoid output is scaled back, inside the graph. The model
(``generative.VAE``) trains itself (reparameterisation, reconstruction + KL in
its ``train_step``) and reconstructs from the posterior mean when called.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .generative_blocks import check_generative
from .lazy import keras, layers
from .registry import register_model

KIND = "generative"


def vae_encoder(input_shape: Sequence[int], widths: Sequence[int], latent_dim: int) -> keras.Model:
    """Pixels -> [0, 1] -> ReLU dense layers -> ``z_mean`` and ``z_log_var``."""
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale_pixels")(inputs)
    x = layers.Flatten(name="encoder_flatten")(x)
    for i, width in enumerate(widths, start=1):
        x = layers.Dense(int(width), activation="relu", name=f"encoder_dense{i}")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    return keras.Model(inputs, [z_mean, z_log_var], name="encoder")


def vae_decoder(latent_dim: int, widths: Sequence[int], output_shape: Sequence[int]) -> keras.Model:
    """Latent -> ReLU dense layers (the encoder's widths reversed) -> sigmoid -> 0-255 pixels."""
    z = keras.Input(shape=(latent_dim,), name="latent")
    x = z
    for i, width in enumerate(reversed(widths), start=1):
        x = layers.Dense(int(width), activation="relu", name=f"decoder_dense{i}")(x)
    x = layers.Dense(math.prod(output_shape), activation="sigmoid", name="decoder_output")(x)
    x = layers.Reshape(tuple(int(d) for d in output_shape), name="decoder_reshape")(x)
    x = layers.Rescaling(255.0, name="to_pixels")(x)
    return keras.Model(z, x, name="decoder")


@register_model(kind=KIND, example_input=(8, 8, 1), tiny={"latent_dim": 2, "widths": (8,)})
def vae(
    input_shape: tuple[int, int, int] = (8, 8, 1),
    latent_dim: int = 8,
    widths: tuple[int, ...] = (128, 64),
    beta: float = 0.1,
    seed: int = 0,
) -> keras.Model:
    """Variational autoencoder: dense encoder to mean and log-variance, mirrored decoder.

    Args:
        input_shape: ``(height, width, channels)`` of the 0-255 images.
        latent_dim: size of the latent space.
        widths: units of the encoder's hidden layers (the decoder mirrors them).
        beta: weight of the KL term in the loss. The reconstruction term is the summed
            squared error of [0, 1] pixels, a Gaussian likelihood of variance 1/2; at
            ``beta=1`` (the evidence lower bound under it) the 8x8 digits' VAE ignores its
            latent (posterior collapse: the loss falls 30 % and stalls); 0.1, the default,
            is the ELBO of a Gaussian of variance 1/20 and keeps the latent in use.
        seed: seed of the reparameterisation noise.
    """
    check_generative(input_shape, latent_dim, widths, "widths")
    if beta < 0:
        raise ValueError(f"beta must be >= 0; got {beta!r}")
    from .generative import VAE

    # --- layers / functional sub-models
    encoder = vae_encoder(input_shape, widths, latent_dim)
    decoder = vae_decoder(latent_dim, widths, input_shape)
    return VAE(encoder, decoder, beta=beta, seed=seed, name="vae")
