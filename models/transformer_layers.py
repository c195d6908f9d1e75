"""The Transformer encoder's layers, registered with Keras's serialisation.

Imported by ``models/transformer.py``'s builder on first use and by
``kerasforge.models.load_model`` (it imports Keras at import time, so the
registry never imports it). Token id 0 is padding everywhere: the embedding
gives the mask, attention never looks at padded keys and pooling averages the
real tokens only, so what sits at padded positions cannot change the output.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

PAD_ID = 0
"""The token id of padding (``TextVectorization``'s, too)."""


def padding_mask(token_ids: Any) -> Any:
    """``[N, steps]`` booleans: true at real tokens, false at padding."""
    return ops.not_equal(token_ids, PAD_ID)


@keras.saving.register_keras_serializable(package="kerasforge")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus a learned embedding of each position: ``[N, steps, dim]``."""

    def __init__(self, vocab_size: int, sequence_length: int, embed_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.vocab_size = int(vocab_size)
        self.sequence_length = int(sequence_length)
        self.embed_dim = int(embed_dim)
        self.tokens = keras.layers.Embedding(vocab_size, embed_dim, name="tokens")
        self.positions = keras.layers.Embedding(sequence_length, embed_dim, name="positions")

    def build(self, input_shape: tuple) -> None:
        self.tokens.build(input_shape)
        self.positions.build((self.sequence_length,))

    def call(self, token_ids: Any) -> Any:
        steps = ops.shape(token_ids)[-1]
        return self.tokens(token_ids) + self.positions(ops.arange(steps))[None]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape, self.embed_dim)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "sequence_length": self.sequence_length,
            "embed_dim": self.embed_dim,
        }


@keras.saving.register_keras_serializable(package="kerasforge")
class TransformerBlock(keras.layers.Layer):
    """Post-norm encoder block: self-attention over real tokens, then a feed-forward net.

    ``call(x, mask)``: ``x`` is ``[N, steps, dim]``, ``mask`` ``[N, steps]`` booleans
    (false: padding, never attended to).
    """

    def __init__(self, embed_dim: int, num_heads: int, ff_dim: int, dropout: float, **kwargs: Any):
        super().__init__(**kwargs)
        self.embed_dim, self.num_heads = int(embed_dim), int(num_heads)
        self.ff_dim, self.dropout = int(ff_dim), float(dropout)
        self.attention = keras.layers.MultiHeadAttention(
            num_heads, embed_dim // num_heads, dropout=dropout, name="attention"
        )
        self.ff_hidden = keras.layers.Dense(ff_dim, activation="relu", name="ff_hidden")
        self.ff_output = keras.layers.Dense(embed_dim, name="ff_output")
        self.norm1 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm1")
        self.norm2 = keras.layers.LayerNormalization(epsilon=1e-6, name="norm2")
        self.drop1 = keras.layers.Dropout(dropout, name="drop1")
        self.drop2 = keras.layers.Dropout(dropout, name="drop2")

    def build(self, x_shape: tuple, mask_shape: tuple | None = None) -> None:
        self.attention.build(x_shape, x_shape)
        self.norm1.build(x_shape)
        self.ff_hidden.build(x_shape)
        self.ff_output.build((*x_shape[:-1], self.ff_dim))
        self.norm2.build(x_shape)

    def call(self, x: Any, mask: Any, training: bool | None = None) -> Any:
        attention_mask = ops.logical_and(mask[:, None, :], mask[:, :, None])
        attended = self.attention(x, x, attention_mask=attention_mask, training=training)
        x = self.norm1(x + self.drop1(attended, training=training))
        hidden = self.ff_output(self.ff_hidden(x))
        return self.norm2(x + self.drop2(hidden, training=training))

    def compute_output_shape(self, x_shape: tuple, mask_shape: tuple | None = None) -> tuple:
        return x_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "num_heads": self.num_heads,
            "ff_dim": self.ff_dim,
            "dropout": self.dropout,
        }


@keras.saving.register_keras_serializable(package="kerasforge")
class MaskedMeanPooling(keras.layers.Layer):
    """The mean over the real tokens: ``([N, steps, dim], [N, steps]) -> [N, dim]``."""

    def call(self, x: Any, mask: Any) -> Any:
        weights = ops.cast(mask, x.dtype)[..., None]
        total = ops.sum(x * weights, axis=1)
        return total / ops.maximum(ops.sum(weights, axis=1), 1.0)

    def compute_output_shape(self, x_shape: tuple, mask_shape: tuple | None = None) -> tuple:
        return (x_shape[0], x_shape[-1])
