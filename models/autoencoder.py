"""Autoencoders for anomaly detection: an encoder to a latent code and a decoder back.

Both builders map a (normalised) input to a reconstruction of the same shape;
the ``anomaly_detection`` task wraps them with the input normalisation and
scores each example by its reconstruction error. ``denoising > 0`` adds a
Gaussian noise layer after the input (active only in training), so the model
learns to reconstruct clean inputs from corrupted ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .lazy import keras, layers
from .registry import register_model

KIND = "autoencoder"


def _check(
    input_shape: Sequence[int], rank: int, latent_dim: int, sizes: Sequence[int], denoising: float
) -> None:
    problems = []
    if len(input_shape) != rank or any(int(d) < 1 for d in input_shape):
        problems.append(f"input_shape must have {rank} positive dimensions; got {input_shape!r}")
    if latent_dim < 1:
        problems.append(f"latent_dim must be at least 1; got {latent_dim!r}")
    if not sizes or any(int(s) < 1 for s in sizes):
        problems.append(f"widths/filters must be a non-empty list of positive ints; got {sizes!r}")
    if denoising < 0:
        problems.append(f"denoising (noise stddev) must be >= 0; got {denoising!r}")
    if problems:
        raise ValueError("; ".join(problems))


def _noisy_input(input_shape: Sequence[int], denoising: float) -> tuple:
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name="inputs")
    x = layers.GaussianNoise(denoising, seed=0, name="noise")(inputs) if denoising > 0 else inputs
    return inputs, x


def dense_encoder(
    x: keras.KerasTensor, widths: Sequence[int], latent_dim: int
) -> keras.KerasTensor:
    """Flatten -> one ReLU dense layer per width -> a linear latent code."""
    x = layers.Flatten(name="encoder_flatten")(x)
    for i, width in enumerate(widths, start=1):
        x = layers.Dense(int(width), activation="relu", name=f"encoder_dense{i}")(x)
    return layers.Dense(latent_dim, name="latent")(x)


def dense_decoder(
    z: keras.KerasTensor, widths: Sequence[int], output_shape: Sequence[int]
) -> keras.KerasTensor:
    """The encoder mirrored: ReLU dense layers (widths reversed) -> linear output, reshaped."""
    x = z
    for i, width in enumerate(reversed(widths), start=1):
        x = layers.Dense(int(width), activation="relu", name=f"decoder_dense{i}")(x)
    x = layers.Dense(math.prod(output_shape), name="decoder_output")(x)
    return layers.Reshape(tuple(int(d) for d in output_shape), name="reconstruction")(x)


@register_model(kind=KIND, example_input=(8, 8, 1))
def dense_autoencoder(
    input_shape: tuple[int, ...] = (8, 8, 1),
    latent_dim: int = 16,
    widths: tuple[int, ...] = (128, 64),
    denoising: float = 0.0,
) -> keras.Model:
    """Fully connected autoencoder: ``widths`` down to ``latent_dim``, mirrored back up.

    Args:
        input_shape: one example's shape (any rank); the output has the same shape.
        latent_dim: size of the bottleneck code.
        widths: units of the encoder's hidden layers (the decoder mirrors them).
        denoising: stddev of the training-only Gaussian noise on the input (0 = off).
    """
    _check(input_shape, len(input_shape), latent_dim, widths, denoising)
    # --- layers / functional model
    inputs, x = _noisy_input(input_shape, denoising)
    z = dense_encoder(x, widths, latent_dim)
    return keras.Model(inputs, dense_decoder(z, widths, input_shape), name="dense_autoencoder")


def conv_encoder(
    x: keras.KerasTensor, filters: Sequence[int], latent_dim: int
) -> keras.KerasTensor:
    """Stride-2 ReLU convolutions (one per entry of ``filters``) -> a linear latent code."""
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2D(int(f), 3, strides=2, padding="same", activation="relu",
                          name=f"encoder_conv{i}")(x)  # fmt: skip
    x = layers.Flatten(name="encoder_flatten")(x)
    return layers.Dense(latent_dim, name="latent")(x)


def conv_decoder(
    z: keras.KerasTensor, filters: Sequence[int], grid: tuple[int, int], channels: int
) -> keras.KerasTensor:
    """Latent -> the encoder's last feature map -> stride-2 transposed convolutions -> output."""
    x = layers.Dense(grid[0] * grid[1] * int(filters[-1]), activation="relu", name="decoder_dense")(
        z
    )
    x = layers.Reshape((*grid, int(filters[-1])), name="decoder_reshape")(x)
    for i, f in enumerate(reversed(filters), start=1):
        x = layers.Conv2DTranspose(int(f), 3, strides=2, padding="same", activation="relu",
                                   name=f"decoder_deconv{i}")(x)  # fmt: skip
    return layers.Conv2D(channels, 3, padding="same", name="decoder_output")(x)


@register_model(kind=KIND, example_input=(8, 8, 1))
def conv_autoencoder(
    input_shape: tuple[int, int, int] = (8, 8, 1),
    latent_dim: int = 16,
    filters: tuple[int, ...] = (32, 64),
    denoising: float = 0.0,
) -> keras.Model:
    """Convolutional autoencoder for images; output shape equals input shape.

    Each encoder convolution halves height and width, so the input is zero-padded
    up to a multiple of ``2 ** len(filters)`` and the reconstruction cropped back.

    Args:
        input_shape: ``(height, width, channels)``.
        latent_dim: size of the bottleneck code.
        filters: channels of each stride-2 encoder convolution (the decoder mirrors them).
        denoising: stddev of the training-only Gaussian noise on the input (0 = off).
    """
    _check(input_shape, 3, latent_dim, filters, denoising)
    height, width, channels = (int(d) for d in input_shape)
    step = 2 ** len(filters)
    pad_h, pad_w = (-height) % step, (-width) % step
    # --- layers / functional model
    inputs, x = _noisy_input(input_shape, denoising)
    padding = ((0, pad_h), (0, pad_w))
    x = layers.ZeroPadding2D(padding, name="pad")(x)
    z = conv_encoder(x, filters, latent_dim)
    grid = ((height + pad_h) // step, (width + pad_w) // step)
    x = conv_decoder(z, filters, grid, channels)
    x = layers.Cropping2D(padding, name="reconstruction")(x)
    return keras.Model(inputs, x, name="conv_autoencoder")
