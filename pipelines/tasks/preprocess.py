"""Input preprocessing shared by tasks: fitted on the training split, inside the model."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...serving.export.text import TOKENIZER_LAYER  # serving reads its vocabulary

if TYPE_CHECKING:
    import keras

INPUT_NAMES = {
    "image": "pixels",
    "tabular": "features",
    "sequence": "sequence",
    "series": "window",
    "text": "text",
}
"""The raw input's name in the model, the signatures and the card, per input kind."""


def normalized_input(
    kind: str, x_train: np.ndarray, augmentation: keras.layers.Layer | None = None
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """A raw input and its normalisation, with statistics from ``x_train`` only.

    Images are standardised with one mean and variance over all pixels (their
    raw values are 0-255); tabular features, and each feature of a sequence or a
    series window (over all its steps), get their own. ``augmentation`` (a layer
    that changes its input in training only) comes between the two.
    """
    import keras

    inputs = keras.Input(shape=x_train.shape[1:], name=INPUT_NAMES[kind])
    normalize = keras.layers.Normalization(axis=None if kind == "image" else -1, name="normalize")
    normalize.adapt(x_train)
    raw = augmentation(inputs) if augmentation is not None else inputs
    return inputs, normalize(raw)


def tokenized_input(
    x_train: np.ndarray, backbone: keras.Model
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """A raw string input and its token ids, the vocabulary from ``x_train`` only.

    ``TextVectorization`` lowercases, strips punctuation and splits on
    whitespace; id 0 is padding, 1 unknown words. The backbone fixes the
    sequence length (its input's steps) and the vocabulary size (the
    ``vocab_size`` of its embedding).
    """
    import keras

    sequence_length = int(backbone.inputs[0].shape[-1])
    sizes = [layer.vocab_size for layer in backbone.layers if hasattr(layer, "vocab_size")]
    inputs = keras.Input(shape=(), dtype="string", name=INPUT_NAMES["text"])
    tokenize = keras.layers.TextVectorization(
        max_tokens=sizes[0] if sizes else None,
        output_sequence_length=sequence_length,
        name=TOKENIZER_LAYER,
    )
    tokenize.adapt(np.asarray(x_train, dtype=str))
    return inputs, tokenize(inputs)
