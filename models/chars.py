"""Character tokenisation in the graph: strings -> fixed-length ids and back.

``CharTokenizer`` splits each UTF-8 string into characters and looks them up
(``keras.layers.StringLookup``) in a vocabulary fitted on the training split:
id ``0`` pads, ``1`` is any character the vocabulary lacks, then the
vocabulary in order. ``char_vocabulary`` fits one; ``ids_to_text`` turns
decoded ids back into strings, stopping at the end token. Both run inside
SavedModels, so clients send and receive plain strings. The module imports Keras
(it defines a layer), so ``models/seq2seq.py`` imports it on first use and
``kerasforge.models.load_model`` registers it, as the Transformer's layers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .lazy import keras

PAD, UNKNOWN = "", "[UNK]"
START, END = "[START]", "[END]"
"""Multi-character tokens: a character split never produces them."""
TOKENIZER_LAYER = "tokenizer"
"""The name of a model's ``CharTokenizer`` layer, where the decoders find it."""


def char_vocabulary(texts: Iterable[str]) -> list[str]:
    """``[START, END, *characters]``: every character of ``texts``, sorted (deterministic)."""
    return [START, END, *sorted({c for text in texts for c in str(text)})]


def lookup_table(vocabulary: Sequence[str]) -> list[str]:
    """The string of each id: pad, unknown, then ``vocabulary``."""
    return [PAD, UNKNOWN, *vocabulary]


@keras.saving.register_keras_serializable(package="kerasforge")
class CharTokenizer(keras.layers.Layer):
    """Strings ``[N]`` -> character ids ``[N, length]`` (int32), padded with 0 or cut.

    Args:
        vocabulary: the characters (and special tokens) known, in id order from 2.
        length: ids per string; longer strings are cut, shorter ones padded.
    """

    def __init__(self, vocabulary: Sequence[str], length: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary)
        self.length = int(length)
        self.lookup = keras.layers.StringLookup(
            vocabulary=self.vocabulary, mask_token=PAD, oov_token=UNKNOWN, name="char_lookup"
        )

    def build(self, input_shape: Any) -> None:
        self.built = True  # the lookup's vocabulary is fixed at construction

    def call(self, inputs: Any) -> Any:
        import tensorflow as tf

        chars = tf.strings.unicode_split(tf.reshape(inputs, [-1]), "UTF-8", errors="replace")
        ids = tf.ragged.map_flat_values(self.lookup, chars)
        return tf.cast(ids.to_tensor(default_value=0, shape=[None, self.length]), tf.int32)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, int]:
        return (input_shape[0], self.length)

    def compute_output_spec(self, inputs: Any) -> Any:
        return keras.KerasTensor((inputs.shape[0], self.length), dtype="int32")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "vocabulary": self.vocabulary, "length": self.length}


def ids_to_text(ids: Any, vocabulary: Sequence[str]) -> Any:
    """Token ids ``[N, T]`` -> strings ``[N]``: characters up to the first end token."""
    import tensorflow as tf

    table = tf.constant(lookup_table(vocabulary))
    end = lookup_table(vocabulary).index(END)
    ids = tf.cast(ids, tf.int32)
    before_end = tf.equal(tf.cumsum(tf.cast(tf.equal(ids, end), tf.int32), axis=-1), 0)
    chars = tf.where(before_end & (ids > 1), tf.gather(table, ids), "")
    return tf.strings.reduce_join(chars, axis=-1)
