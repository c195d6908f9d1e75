"""Input preprocessing shared by tasks: fitted on the training split, inside the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import numpy as np

INPUT_NAMES = {"image": "pixels", "tabular": "features", "sequence": "sequence", "series": "window"}
"""The raw input's name in the model, the signatures and the card, per input kind."""


def normalized_input(kind: str, x_train: np.ndarray) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """A raw input and its normalisation, with statistics from ``x_train`` only.

    Images are standardised with one mean and variance over all pixels (their
    raw values are 0-255); tabular features, and each feature of a sequence or a
    series window (over all its steps), get their own.
    """
    import keras

    inputs = keras.Input(shape=x_train.shape[1:], name=INPUT_NAMES[kind])
    normalize = keras.layers.Normalization(axis=None if kind == "image" else -1, name="normalize")
    normalize.adapt(x_train)
    return inputs, normalize(inputs)
