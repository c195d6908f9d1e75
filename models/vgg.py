"""VGG (Simonyan & Zisserman 2014): stacks of 3x3 convolutions, max pooling, three dense layers.

Configurations A (VGG-11), B (VGG-13), D (VGG-16) and E (VGG-19) differ only in
how many convolutions each of the five stages has; ``batch_norm`` adds batch
normalisation after every convolution (the ``vgg*_bn`` variants of later work).
"""

from __future__ import annotations

from collections.abc import Sequence

from .inputs import check_image, image_input
from .lazy import keras, layers
from .registry import register_model

STAGE_WIDTHS = (1, 2, 4, 8, 8)
"""Each stage's filters as a multiple of ``base_filters`` (64 in the paper)."""
TINY = {"input_shape": (32, 32, 3), "base_filters": 2, "dense_units": 8}


def vgg_stage(
    x: keras.KerasTensor, filters: int, convs: int, batch_norm: bool, name: str
) -> keras.KerasTensor:
    """``convs`` 3x3 convolutions (+ batch norm) with ReLU, then 2x2 max pooling."""
    for i in range(1, convs + 1):
        x = layers.Conv2D(
            filters, 3, padding="same", use_bias=not batch_norm, name=f"{name}_conv{i}"
        )(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, name=f"{name}_pool")(x)


def vgg_head(
    x: keras.KerasTensor, num_classes: int, dense_units: int, dropout: float
) -> keras.KerasTensor:
    """Flatten, two ReLU dense layers with dropout, softmax."""
    x = layers.Flatten(name="fc_flatten")(x)
    for i in (1, 2):
        x = layers.Dense(dense_units, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def vgg(
    convs: Sequence[int],
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    batch_norm: bool,
    base_filters: int,
    dense_units: int,
    dropout: float,
    input_size: int | None,
) -> keras.Model:
    """Family builder: five ``vgg_stage`` of ``convs[i]`` convolutions, then ``vgg_head``."""
    check_image(input_shape, num_classes)
    if base_filters < 1 or dense_units < 1:
        raise ValueError(
            f"base_filters and dense_units must be positive; got {base_filters!r}, {dense_units!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout!r}")
    # --- layers / functional model
    inputs, x = image_input(input_shape, input_size)
    if min(x.shape[1:3]) < 32:
        raise ValueError(
            f"{name} halves the image five times and needs at least 32x32 pixels; got "
            f"{tuple(x.shape[1:3])}: set input_size (e.g. 32) to resize inside the model"
        )
    for stage, (n, widen) in enumerate(zip(convs, STAGE_WIDTHS, strict=True), start=1):
        x = vgg_stage(x, base_filters * widen, n, batch_norm, name=f"block{stage}")
    outputs = vgg_head(x, num_classes, dense_units, dropout)
    return keras.Model(inputs, outputs, name=name)


# Each variant: input_shape (one image), num_classes, batch_norm (after every conv),
# base_filters (stage 1 width; stages double up to 8x), dense_units (the two hidden
# dense layers), dropout (after each), input_size (resize inside the model; null = none).


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=TINY)
def vgg11(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    batch_norm: bool = False,
    base_filters: int = 64,
    dense_units: int = 4096,
    dropout: float = 0.5,
    input_size: int | None = None,
) -> keras.Model:
    """VGG-11 (configuration A), 3x3 convolutions only, optional batch norm."""
    args = (input_shape, num_classes, batch_norm, base_filters, dense_units, dropout, input_size)
    return vgg((1, 1, 2, 2, 2), "vgg11", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=TINY)
def vgg13(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    batch_norm: bool = False,
    base_filters: int = 64,
    dense_units: int = 4096,
    dropout: float = 0.5,
    input_size: int | None = None,
) -> keras.Model:
    """VGG-13 (configuration B), 3x3 convolutions only, optional batch norm."""
    args = (input_shape, num_classes, batch_norm, base_filters, dense_units, dropout, input_size)
    return vgg((2, 2, 2, 2, 2), "vgg13", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=TINY)
def vgg16(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    batch_norm: bool = False,
    base_filters: int = 64,
    dense_units: int = 4096,
    dropout: float = 0.5,
    input_size: int | None = None,
) -> keras.Model:
    """VGG-16 (configuration D), 3x3 convolutions only, optional batch norm."""
    args = (input_shape, num_classes, batch_norm, base_filters, dense_units, dropout, input_size)
    return vgg((2, 2, 3, 3, 3), "vgg16", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=TINY)
def vgg19(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    batch_norm: bool = False,
    base_filters: int = 64,
    dense_units: int = 4096,
    dropout: float = 0.5,
    input_size: int | None = None,
) -> keras.Model:
    """VGG-19 (configuration E), 3x3 convolutions only, optional batch norm."""
    args = (input_shape, num_classes, batch_norm, base_filters, dense_units, dropout, input_size)
    return vgg((2, 2, 4, 4, 4), "vgg19", *args)
