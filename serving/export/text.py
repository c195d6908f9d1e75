"""Text models in serving: the tokeniser's facts for the card and a token-ids signature.

A text model takes raw strings; its first layer, ``TextVectorization`` (named
``tokenize``), lowercases, strips punctuation, splits on whitespace and looks
the words up in its vocabulary. Those string ops (``StringLower``,
``StaticRegexReplace``, ``StringSplitV2``, ``RaggedTensorToTensor``) exist in
TFLite only as SELECT_TF_OPS, which need the Flex delegate: neither
``ai_edge_litert`` nor ``tflite_runtime`` from PyPI ship it. So the SavedModel
also exports :data:`TOKENS_SIGNATURE` (token ids in, the same outputs), TFLite
converts that one with builtin ops only, and the card carries the vocabulary
(``preprocessing.tokenizer``) with which the edge runtime tokenises in NumPy
(``serving/edge/text.py``), exactly as the graph does.
"""

from __future__ import annotations

from typing import Any

from ..card import ModelCard

TOKENIZER_LAYER = "tokenize"
TOKENS_SIGNATURE = "serving_token_ids"
TOKENS_INPUT = "token_ids"
STANDARDIZE = "lower_and_strip_punctuation"
SELECT_TF_OPS_NOTE = (
    "TextVectorization's string ops need SELECT_TF_OPS (the Flex delegate) in TFLite; the "
    ".tflite takes token ids instead (signature serving_token_ids) and clients tokenise with "
    "preprocessing.tokenizer (kerasforge-edge does)"
)


def tokenizer_layer(model: Any) -> Any | None:
    """The model's ``TextVectorization`` layer, or ``None`` for a model without one."""
    for layer in model.layers:
        if layer.name == TOKENIZER_LAYER:
            return layer
    return None


def with_tokenizer(card: ModelCard, model: Any) -> ModelCard:
    """``card`` with ``preprocessing.tokenizer`` (vocabulary, length, rules) for a text model."""
    layer = tokenizer_layer(model)
    if layer is None:
        return card
    config = layer.get_config()
    if config.get("standardize") != STANDARDIZE or config.get("split") != "whitespace":
        return card  # a tokeniser the edge cannot reproduce: the card says nothing it cannot keep
    facts = {
        "vocabulary": [str(v) for v in layer.get_vocabulary()],
        "sequence_length": int(config["output_sequence_length"]),
        "standardize": STANDARDIZE,
        "split": "whitespace",
        "padding_id": 0,
        "unknown_id": 1,
        "tflite": SELECT_TF_OPS_NOTE,
    }
    return card.model_copy(update={"preprocessing": {**card.preprocessing, "tokenizer": facts}})


def token_scorer(model: Any) -> Any | None:
    """The part of a text model after its tokeniser: token ids -> its outputs."""
    import keras

    layer = tokenizer_layer(model)
    if layer is None:
        return None
    return keras.Model(layer.output, model.outputs, name=f"{model.name}_tokens")


def token_ids_spec(model: Any) -> Any:
    """``[N, sequence_length]`` int64 token ids, named :data:`TOKENS_INPUT`."""
    import tensorflow as tf

    length = int(tokenizer_layer(model).output.shape[-1])
    return tf.TensorSpec((None, length), tf.int64, name=TOKENS_INPUT)
