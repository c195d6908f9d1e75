"""Text on the edge: the tokenisers match the graph's (TextVectorization, CharTokenizer),
ids <-> strings from a seq2seq card, ``.txt`` inputs, and Flex-only models fail clearly."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.card import ModelCard
from kerasforge.serving.edge.runtime import EdgeError, EdgeModel
from kerasforge.serving.edge.text import (
    CharacterTokenizer,
    Tokenizer,
    decode_ids,
    encode_sources,
    encode_texts,
    exact_match,
    load_text,
    tokenizer_for,
)

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


TOKENS = ["", "[UNK]", "[START]", "[END]", "-", "0", "1", "2"]


def test_encode_and_decode_round_trip_stopping_at_the_end_token():
    ids = encode_texts(["2021-01-02", "12"], TOKENS, length=6, end_id=3)
    assert ids.tolist() == [[7, 5, 7, 6, 4, 3], [6, 7, 3, 0, 0, 0]], "cut so the end fits"
    assert decode_ids(ids, TOKENS, end_id=3) == ["2021-", "12"]
    assert encode_sources(["1x"], TOKENS, 3).tolist() == [[6, 1, 0]], "unknown 1, pad 0"


def test_exact_match_ignores_what_follows_the_end_token():
    target = np.array([[6, 3, 0], [7, 3, 0]])
    decoded = np.array([[6, 3, 7], [7, 6, 3]])
    assert exact_match(decoded, target) == 0.5


def test_the_card_picks_the_tokeniser():
    card = ModelCard(task="seq2seq", architecture="seq2seq_plain")
    assert tokenizer_for(None) is None and tokenizer_for(card) is None
    seq2seq = card.model_copy(update={"data": {"seq2seq": {"tokens": TOKENS, "source_length": 4}}})
    chars = tokenizer_for(seq2seq)
    assert isinstance(chars, CharacterTokenizer) and chars([b"10-2"]).tolist() == [[6, 5, 4, 7]]
    facts = {"vocabulary": ["", "[UNK]", "cat"], "sequence_length": 3}
    words = tokenizer_for(card.model_copy(update={"preprocessing": {"tokenizer": facts}}))
    assert isinstance(words, Tokenizer) and words(["The cat!"]).tolist() == [[1, 2, 0]]


def test_a_text_file_is_one_text_per_line(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("  3 March 2021 \n\n2021-03-04\n", encoding="utf-8")
    assert load_text(path).tolist() == ["3 March 2021", "2021-03-04"]
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(EdgeError, match="holds no texts: write one text per line"):
        load_text(path)
    path.write_bytes(b"\xff\xfe caf\xe9")
    with pytest.raises(EdgeError, match="is not UTF-8 text"):
        load_text(path)


def test_a_model_needing_tensorflow_ops_is_explained(tmp_path):
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
    def lengths(text):
        codes = tf.strings.unicode_decode(text, "UTF-8")  # a Flex op
        return {"length": tf.cast(codes.row_lengths(), tf.int32)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions([lengths.get_concrete_function()])
    converter.target_spec.supported_ops = [
        tf.lite.OpsSet.TFLITE_BUILTINS,
        tf.lite.OpsSet.SELECT_TF_OPS,
    ]
    (tmp_path / "flex.tflite").write_bytes(converter.convert())
    model = EdgeModel(tmp_path / "flex.tflite")
    with pytest.raises(EdgeError, match=r"needs TensorFlow ops \(SELECT_TF_OPS.*no Flex delegate"):
        model.outputs(np.array(["a"], dtype=object))
