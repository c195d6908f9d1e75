"""Multilayer perceptrons for tabular features.

``mlp`` is a backbone: it maps a feature vector to a learned representation
and the task adds the head (softmax probabilities for classification, linear
values for regression), so one builder serves both. For classification the
task's ``head`` option picks a softmax over the classes or, for two classes, a
single sigmoid unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .lazy import keras, layers
from .registry import register_model

Activation = Literal["relu", "leaky_relu", "elu", "tanh", "sigmoid", "gelu", "swish"]


def dense_block(
    x: keras.KerasTensor,
    width: int,
    activation: str,
    dropout: float,
    name: str,
    batch_norm: bool = False,
    l2: float = 0.0,
) -> keras.KerasTensor:
    """Dense (L2-penalised kernel when ``l2 > 0``) -> batch norm -> activation -> dropout.

    Batch norm and dropout are skipped when off; with batch norm the dense layer
    has no bias (the normalisation's offset replaces it).
    """
    regularizer = keras.regularizers.L2(l2) if l2 > 0 else None
    x = layers.Dense(
        width, use_bias=not batch_norm, kernel_regularizer=regularizer, name=f"{name}_dense"
    )(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def _check(input_shape: Sequence[int], depth: int, width: int, dropout: float, l2: float) -> None:
    problems = []
    if not 0.0 <= l2 <= 1.0:
        problems.append(f"l2 must be in [0, 1]; got {l2!r}")
    if len(input_shape) != 1 or int(input_shape[0]) < 1:
        problems.append(f"input_shape must be (features,) with features >= 1; got {input_shape!r}")
    if depth < 1:
        problems.append(f"depth must be at least 1; got {depth!r}")
    if width < 1:
        problems.append(f"width must be at least 1; got {width!r}")
    if not 0.0 <= dropout < 1.0:
        problems.append(f"dropout must be in [0, 1); got {dropout!r}")
    if problems:
        raise ValueError("; ".join(problems))


@register_model(kind="dense", example_input=(10,))
def mlp(
    input_shape: tuple[int] = (10,),
    depth: int = 2,
    width: int = 64,
    activation: Activation = "relu",
    dropout: float = 0.0,
    batch_norm: bool = False,
    l2: float = 0.0,
) -> keras.Model:
    """Multilayer perceptron backbone: ``depth`` dense blocks of ``width`` units.

    Args:
        input_shape: ``(features,)``.
        depth: number of dense blocks.
        width: units per block.
        activation: relu, leaky_relu, elu, tanh, sigmoid, gelu or swish.
        dropout: dropout rate after each block (0 = none).
        batch_norm: batch normalisation between each dense layer and its activation.
        l2: L2 penalty on the dense kernels (0 = none).
    """
    _check(input_shape, depth, width, dropout, l2)
    # --- layers / functional model
    inputs = keras.Input(shape=(int(input_shape[0]),), name="features")
    x = inputs
    for i in range(1, depth + 1):
        x = dense_block(x, width, activation, dropout, f"block{i}", batch_norm, l2)
    return keras.Model(inputs, x, name="mlp")
