"""Text on the edge: ids <-> strings from the card, exact match, and runtimes without Flex ops."""

from __future__ import annotations

import numpy as np
import pytest

from kerasforge.serving.edge.inputs import EdgeError
from kerasforge.serving.edge.text import decode_ids, encode_sources, encode_texts, exact_match

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


def test_a_model_needing_tensorflow_ops_is_explained(tmp_path):
    import tensorflow as tf

    from kerasforge.serving.edge.runtime import EdgeModel

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
