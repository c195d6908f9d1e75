"""The edge runtime's tokeniser matches TextVectorization; Flex-only models fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.edge.runtime import EdgeError, EdgeModel
from kerasforge.serving.edge.text import Tokenizer

TEXTS = [
    "The CAT chased the dog!",
    "  the   dog,\twas chased... by the cat  ",
    "Caf\u00c9 \u00dcber it's (not) a [test] -- of 'quotes' & such; ok?",
    "one two three four five six seven eight nine ten eleven",
    "unknownword cat",
    "",
]


@pytest.fixture(scope="module")
def vectorizer():
    import keras

    layer = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=8)
    layer.adapt(np.array([*TEXTS[:4], "caf\u00e9 \u00fcber its"], dtype=object))
    return layer


def test_the_numpy_tokeniser_gives_textvectorization_s_ids(vectorizer):
    tokenizer = Tokenizer(vectorizer.get_vocabulary(), 8)
    expected = vectorizer(np.array(TEXTS, dtype=object)).numpy()
    np.testing.assert_array_equal(tokenizer(TEXTS), expected)
    np.testing.assert_array_equal(tokenizer([t.encode() for t in TEXTS]), expected)


def test_a_model_needing_select_tf_ops_is_refused_with_a_reason(vectorizer, tmp_path):
    import keras
    import tensorflow as tf

    inputs = keras.Input(shape=(), dtype="string", name="text")
    outputs = keras.layers.Embedding(30, 2, name="embed")(vectorizer(inputs))
    model = keras.Model(inputs, outputs)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def serve(text):
        return {"embedded": model(text)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [serve.get_concrete_function()], model
    )
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    path = tmp_path / "flex.tflite"
    path.write_bytes(converter.convert())
    edge = EdgeModel(path)
    with pytest.raises(EdgeError, match=r"SELECT_TF_OPS.* this TFLite runtime lacks"):
        edge.outputs(np.array([b"the cat"], dtype=object))
