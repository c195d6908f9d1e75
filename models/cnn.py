"""Small convolutional classifiers (the LeNet-style family).

A shared family builder made of named blocks; each registered variant is a
short function that fixes its hyperparameters and calls it.
"""

from __future__ import annotations

from collections.abc import Sequence

from kerasforge.models.lazy import keras, layers
from kerasforge.models.registry import register_model


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


@register_model(tasks=("classification",), example_input=(8, 8, 1))
def digits_cnn(
    input_shape: tuple[int, int, int] = (8, 8, 1),
    num_classes: int = 10,
    filters: tuple[int, ...] = (32, 64),
    dense_units: int = 64,
    dropout: float = 0.25,
) -> keras.Model:
    """A two-stage CNN sized for 8x8 digit images (about 60k parameters)."""
    return small_cnn(input_shape, num_classes, filters, dense_units, dropout, name="digits_cnn")
