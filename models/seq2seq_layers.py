"""The sequence-to-sequence family's own layer (``models/seq2seq.py``), imported when a
decoder is built, so that listing the registry loads no Keras."""

from __future__ import annotations

from typing import Any

import keras


class GreedyChoice(keras.layers.Layer):
    """The most likely id of each step (int32). ``tf.argmax`` itself: ``keras.ops.argmax``
    adds a bitwise fix for flushed denormals that TFLite's builtins lack."""

    def call(self, probabilities: Any) -> Any:
        import tensorflow as tf

        return tf.argmax(probabilities, axis=-1, output_type=tf.int32)

    def compute_output_spec(self, probabilities: Any) -> Any:
        return keras.KerasTensor(probabilities.shape[:-1], dtype="int32")
