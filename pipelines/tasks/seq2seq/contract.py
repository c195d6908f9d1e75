"""Sequence to sequence's serving contract: decoded strings with their ids, probabilities
and attention over ``text``, the same numeric outputs over ``source_ids``
(``serving_token_ids``, what TFLite converts); exact match over served outputs; decoded
strings on the edge from the card's tokens (copied beside every ``.tflite``).

TensorFlow is imported inside :func:`endpoints` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ....serving.edge.text import decode_ids, exact_match
from ....serving.export.signatures import DEFAULT_SIGNATURE, Endpoint
from .. import Contract

if TYPE_CHECKING:
    from ....serving.card import ModelCard

TEXT_INPUT = "text"
"""``serving_default``'s input: the source strings."""
IDS_INPUT = "source_ids"
"""``serving_token_ids``' input: the source character ids."""


def endpoints(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: ``text`` strings ``[N]`` -> ``output`` (the decoded strings),
    ``token_ids`` ``[N, T]``, ``probabilities`` ``[N, T, ids]`` and ``attention``
    ``[N, T, source length]`` (zeros for a model without attention).

    ``serving_token_ids`` (as a text classifier's) answers the same numeric outputs for
    ``source_ids`` ``[N, source length]`` (int32, the card's ``tokens`` index them, 0
    pads): the form TFLite converts with its builtins (string ops would need
    SELECT_TF_OPS), the edge runtime tokenising with the card. Tokenisation and greedy
    decoding run in the graph (``models.seq2seq.text_decoder``).
    """
    import tensorflow as tf

    from ....models.seq2seq import text_decoder
    from ....serving.export.text import TOKENS_SIGNATURE

    facts = card.data["seq2seq"]
    run = text_decoder(model, int(facts["output_length"]), int(facts["start_id"]))

    def serve(text: tf.Tensor) -> dict[str, tf.Tensor]:
        return run(text)

    def serve_ids(source_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        return run.decoder(source_ids)

    text_spec = tf.TensorSpec((None,), tf.string, name=TEXT_INPUT)
    ids_spec = tf.TensorSpec((None, int(facts["source_length"])), tf.int32, name=IDS_INPUT)
    return {
        DEFAULT_SIGNATURE: Endpoint(
            serve, [text_spec], input_facts=({"description": "source strings (UTF-8)"},),
            description="a string in, the greedily decoded string out, with attention weights",
        ),
        TOKENS_SIGNATURE: Endpoint(
            serve_ids, [ids_spec],
            input_facts=({"description": "source character ids (data.seq2seq.tokens; 0 pads)"},),
            description="source ids in, decoded ids out (the form TFLite converts)",
        ),
    }  # fmt: skip


def score(y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float) -> float:
    """Exact match of the served ``token_ids`` with the target strings."""
    return exact_match(np.asarray(outputs["token_ids"]), y_true)


def edge_answer(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"output": [decoded string per example], "token_ids": [...]}`` (the card's tokens
    turn ids into characters; the ``.tflite`` has no string outputs)."""
    ids = np.asarray(outputs["token_ids"])
    result: dict[str, Any] = {"token_ids": ids.tolist()}
    facts = card.data.get("seq2seq") if card else None
    if facts:
        result["output"] = decode_ids(ids, facts["tokens"], int(facts["end_id"]))
    return result


CONTRACT = Contract(
    name="seq2seq",
    inputs=("text",),
    backbones=("encoder_decoder",),
    main_output="probabilities",
    endpoints=endpoints,
    score=score,
    edge_answer=edge_answer,
    card_data=("seq2seq",),
)
