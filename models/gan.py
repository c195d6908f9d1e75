"""DCGAN (``dcgan``): a transposed-convolution generator against a convolutional discriminator.

The generator maps a latent vector to 0-255 pixels (sigmoid, scaled inside the
graph); the discriminator scales 0-255 pixels to [0, 1] and answers one logit.
Each generator convolution doubles height and width from a small grid, so the
output is cropped to ``input_shape`` when the size is not a multiple of
``2 ** len(filters)``. The model (``generative.DCGAN``) trains both in its
``train_step``; calling it generates images.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .generative_blocks import check_generative
from .lazy import keras, layers
from .registry import register_model

KIND = "generative"


def dcgan_generator(
    latent_dim: int, filters: Sequence[int], output_shape: Sequence[int]
) -> keras.Model:
    """Latent -> dense to a small grid -> stride-2 transposed convolutions -> 0-255 pixels."""
    height, width, channels = (int(d) for d in output_shape)
    step = 2 ** len(filters)
    grid = (math.ceil(height / step), math.ceil(width / step))
    z = keras.Input(shape=(latent_dim,), name="latent")
    x = layers.Dense(grid[0] * grid[1] * int(filters[0]), name="generator_dense")(z)
    x = layers.LeakyReLU(0.2, name="generator_dense_act")(x)
    x = layers.Reshape((*grid, int(filters[0])), name="generator_reshape")(x)
    for i, f in enumerate(filters, start=1):
        x = layers.Conv2DTranspose(int(f), 4, strides=2, padding="same",
                                   name=f"generator_deconv{i}")(x)  # fmt: skip
        x = layers.LeakyReLU(0.2, name=f"generator_act{i}")(x)
    x = layers.Conv2D(channels, 3, padding="same", activation="sigmoid", name="generator_output")(x)
    crop = ((0, grid[0] * step - height), (0, grid[1] * step - width))
    x = layers.Cropping2D(crop, name="generator_crop")(x)
    x = layers.Rescaling(255.0, name="to_pixels")(x)
    return keras.Model(z, x, name="generator")


def dcgan_discriminator(
    input_shape: Sequence[int], filters: Sequence[int], dropout: float
) -> keras.Model:
    """0-255 pixels -> [0, 1] -> stride-2 LeakyReLU convolutions -> dropout -> one logit."""
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale_pixels")(inputs)
    for i, f in enumerate(reversed(filters), start=1):
        x = layers.Conv2D(int(f), 3, strides=2, padding="same", name=f"discriminator_conv{i}")(x)
        x = layers.LeakyReLU(0.2, name=f"discriminator_act{i}")(x)
    x = layers.Flatten(name="discriminator_flatten")(x)
    x = layers.Dropout(dropout, seed=0, name="discriminator_dropout")(x)
    return keras.Model(inputs, layers.Dense(1, name="discriminator_logit")(x), name="discriminator")


@register_model(kind=KIND, example_input=(8, 8, 1), tiny={"latent_dim": 4, "filters": (8,)})
def dcgan(
    input_shape: tuple[int, int, int] = (8, 8, 1),
    latent_dim: int = 16,
    filters: tuple[int, ...] = (64, 32),
    dropout: float = 0.3,
    seed: int = 0,
) -> keras.Model:
    """DCGAN: transposed-convolution generator, convolutional discriminator.

    Args:
        input_shape: ``(height, width, channels)`` of the 0-255 images it learns.
        latent_dim: size of the latent vectors the generator takes.
        filters: channels of the generator's stride-2 transposed convolutions
            (the discriminator's convolutions mirror them).
        dropout: dropout rate before the discriminator's logit.
        seed: seed of the latent draws in training.
    """
    check_generative(input_shape, latent_dim, filters, "filters")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    from .generative import DCGAN

    # --- layers / functional sub-models
    generator = dcgan_generator(latent_dim, filters, input_shape)
    discriminator = dcgan_discriminator(input_shape, filters, dropout)
    return DCGAN(generator, discriminator, seed=seed, name="dcgan")
