"""Multilayer perceptrons for tabular features.

``mlp`` is a backbone: it maps a feature vector to a learned representation
and the task adds the head (softmax probabilities for classification, linear
values for regression), so one builder serves both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from kerasforge.models.lazy import keras, layers
from kerasforge.models.registry import register_model

Activation = Literal["relu", "leaky_relu", "elu", "tanh", "sigmoid", "gelu", "swish"]


def dense_block(
    x: keras.KerasTensor, width: int, activation: str, dropout: float, name: str
) -> keras.KerasTensor:
    """Dense -> activation -> dropout (dropout skipped at 0)."""
    x = layers.Dense(width, name=f"{name}_dense")(x)
    x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    if dropout > 0:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


def _check(input_shape: Sequence[int], depth: int, width: int, dropout: float) -> None:
    problems = []
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


@register_model(tasks=("classification", "regression"), example_input=(10,))
def mlp(
    input_shape: tuple[int] = (10,),
    depth: int = 2,
    width: int = 64,
    activation: Activation = "relu",
    dropout: float = 0.0,
) -> keras.Model:
    """Multilayer perceptron backbone: ``depth`` dense blocks of ``width`` units."""
    _check(input_shape, depth, width, dropout)
    # --- layers / functional model
    inputs = keras.Input(shape=(int(input_shape[0]),), name="features")
    x = inputs
    for i in range(1, depth + 1):
        x = dense_block(x, width, activation, dropout, name=f"block{i}")
    return keras.Model(inputs, x, name="mlp")
