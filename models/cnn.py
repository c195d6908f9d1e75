"""Small convolutional classifiers (the LeNet-style family).

A shared family builder made of named blocks; each registered variant is a
short function that fixes its hyperparameters and calls it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .lazy import keras, layers
from .registry import register_model


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


def _check_common(
    input_shape: Sequence[int],
    num_classes: int,
    filters: Sequence[int],
    dense_units: int,
    dropout: float,
) -> None:
    _check(
        len(input_shape) == 3 and all(int(d) > 0 for d in input_shape),
        f"input_shape must be (height, width, channels) of positive sizes; got {input_shape!r}",
    )
    _check(num_classes >= 2, f"num_classes must be at least 2; got {num_classes!r}")
    _check(
        len(filters) > 0 and all(int(f) > 0 for f in filters),
        f"filters must be a non-empty list of positive integers; got {filters!r}",
    )
    _check(dense_units >= 1, f"dense_units must be at least 1; got {dense_units!r}")
    _check(0.0 <= dropout < 1.0, f"dropout must be in [0, 1); got {dropout!r}")


def conv_block(x: keras.KerasTensor, filters: int, name: str) -> keras.KerasTensor:
    """Two 3x3 convolutions with batch norm and ReLU, then 2x2 max pooling."""
    for i in (1, 2):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")(x)


def classifier_head(
    x: keras.KerasTensor, num_classes: int, dense_units: int, dropout: float
) -> keras.KerasTensor:
    """Flatten -> dense -> dropout -> softmax probabilities."""
    x = layers.Flatten(name="head_flatten")(x)
    x = layers.Dense(dense_units, activation="relu", name="head_dense")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    return layers.Dense(num_classes, activation="softmax", name="probabilities")(x)


def small_cnn(
    input_shape: Sequence[int],
    num_classes: int,
    filters: Sequence[int],
    dense_units: int,
    dropout: float,
    name: str,
) -> keras.Model:
    """Family builder: one ``conv_block`` per entry of ``filters``, then the head."""
    _check_common(input_shape, num_classes, filters, dense_units, dropout)
    # --- layers / functional model
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name="pixels")
    x = inputs
    for stage, width in enumerate(filters, start=1):
        x = conv_block(x, int(width), name=f"stage{stage}")
    outputs = classifier_head(x, num_classes, dense_units, dropout)
    return keras.Model(inputs, outputs, name=name)


@register_model(kind="classifier", example_input=(8, 8, 1))
def digits_cnn(
    input_shape: tuple[int, int, int] = (8, 8, 1),
    num_classes: int = 10,
    filters: tuple[int, ...] = (32, 64),
    dense_units: int = 64,
    dropout: float = 0.25,
) -> keras.Model:
    """A two-stage CNN sized for 8x8 digit images."""
    return small_cnn(input_shape, num_classes, filters, dense_units, dropout, name="digits_cnn")


# --- LeNet-5 (LeCun et al. 1998) and AlexNet (Krizhevsky et al. 2012)


def lenet_block(
    x: keras.KerasTensor, filters: int, activation: str, pooling: str, name: str
) -> keras.KerasTensor:
    """A 5x5 valid convolution (C1/C3) and 2x2 subsampling (S2/S4)."""
    x = layers.Conv2D(filters, 5, activation=activation, name=f"{name}_conv")(x)
    pool = layers.AveragePooling2D if pooling == "average" else layers.MaxPooling2D
    return pool(2, name=f"{name}_pool")(x)


@register_model(kind="classifier", example_input=(32, 32, 1))
def lenet5(
    input_shape: tuple[int, int, int] = (32, 32, 1),
    num_classes: int = 10,
    activation: Literal["tanh", "relu"] = "tanh",
    pooling: Literal["average", "max"] = "average",
    input_size: int | None = 32,
) -> keras.Model:
    """LeNet-5 as LeCun et al. 1998 drew it: C1-S2-C3-S4-C5-F6-output.

    C3 is fully connected to S2 (the paper's partial table is a hardware-era
    economy), S2/S4 are plain pooling and the output is softmax rather than
    RBF units, as in every modern reproduction. ``input_size`` (default 32)
    resizes the input to the 32x32 the layout expects; null keeps its size.
    """
    from .inputs import check_image, image_input

    check_image(input_shape, num_classes)
    _check(activation in ("tanh", "relu"), f"activation must be tanh or relu; got {activation!r}")
    _check(pooling in ("average", "max"), f"pooling must be average or max; got {pooling!r}")
    # --- layers / functional model
    inputs, x = image_input(input_shape, input_size)
    x = lenet_block(x, 6, activation, pooling, name="c1s2")
    x = lenet_block(x, 16, activation, pooling, name="c3s4")
    x = layers.Conv2D(120, 5, activation=activation, name="c5_conv")(x)
    x = layers.Flatten(name="c5_flatten")(x)
    x = layers.Dense(84, activation=activation, name="f6_dense")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="lenet5")


def alexnet_conv(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, lrn: bool, pool: bool, name: str
) -> keras.KerasTensor:
    """Convolution + ReLU, then optional local response normalisation and 3x3/2 max pooling."""
    padding = "valid" if stride > 1 else "same"
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, name=f"{name}_conv")(x)
    x = layers.ReLU(name=f"{name}_relu")(x)
    if lrn:
        from .layers import LocalResponseNormalization

        x = LocalResponseNormalization(name=f"{name}_lrn")(x)
    if pool:
        x = layers.MaxPooling2D(3, strides=2, name=f"{name}_pool")(x)
    return x


@register_model(
    kind="classifier",
    example_input=(227, 227, 3),
    tiny={"input_shape": (67, 67, 3), "filters": (4, 8, 8, 8, 8), "dense_units": 16},
)
def alexnet(
    input_shape: tuple[int, int, int] = (227, 227, 3),
    num_classes: int = 1000,
    filters: tuple[int, int, int, int, int] = (96, 256, 384, 384, 256),
    dense_units: int = 4096,
    lrn: bool = True,
    dropout: float = 0.5,
    input_size: int | None = None,
) -> keras.Model:
    """AlexNet (single-tower): five convolutions, three dense layers, ReLU, optional LRN, dropout.

    ``filters`` are the five convolutions' widths, ``dense_units`` the two hidden
    dense layers', ``lrn`` adds local response normalisation after conv1 and
    conv2, ``input_size`` resizes the input inside the model (227 in the paper).
    """
    from .inputs import check_image, image_input

    check_image(input_shape, num_classes)
    _check(len(filters) == 5, f"filters must list 5 convolution widths; got {filters!r}")
    _check(0.0 <= dropout < 1.0, f"dropout must be in [0, 1); got {dropout!r}")
    # --- layers / functional model
    inputs, x = image_input(input_shape, input_size)
    x = alexnet_conv(x, filters[0], 11, 4, lrn, True, name="conv1")
    x = alexnet_conv(x, filters[1], 5, 1, lrn, True, name="conv2")
    x = alexnet_conv(x, filters[2], 3, 1, False, False, name="conv3")
    x = alexnet_conv(x, filters[3], 3, 1, False, False, name="conv4")
    x = alexnet_conv(x, filters[4], 3, 1, False, True, name="conv5")
    x = layers.Flatten(name="fc_flatten")(x)
    for i in (6, 7):
        x = layers.Dense(dense_units, activation="relu", name=f"fc{i}")(x)
        x = layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="alexnet")
