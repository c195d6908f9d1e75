"""Classification's serving contract: ``class_ids``, ``probabilities`` and ``classes`` over
the raw input (and its bytes, columns or token ids), ``classify`` over tf.Examples; accuracy
over served outputs; the class names on the edge.

TensorFlow is imported inside :func:`endpoints` only: the edge runtime reads this module
without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ....serving.export.input_forms import SignatureInputs
from ....serving.export.signatures import DEFAULT_SIGNATURE, Endpoint, traced_once
from ....serving.wire import CLASSIFY_METHOD
from .. import Contract

if TYPE_CHECKING:
    from ....serving.card import ModelCard


def endpoints(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``class_ids`` (int64), ``probabilities``, ``classes``.

    An image model's ``serving_default`` takes encoded images instead where the card's
    ``image_input`` says ``encoded`` (``SignatureInputs.predict_endpoints``).

    ``classes`` is the class name of ``class_ids``; ``classify`` answers every
    class name with its score, as TF Serving's Classify API expects.
    """
    import tensorflow as tf

    inputs = SignatureInputs(model, card)
    count = int(model.outputs[0].shape[-1])
    names = card.class_names if len(card.class_names) == count else [str(i) for i in range(count)]
    forward = traced_once(model)

    def predict(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return answer(forward(x))

    def answer(probabilities: tf.Tensor) -> dict[str, tf.Tensor]:
        class_ids = tf.argmax(probabilities, axis=-1, output_type=tf.int64)
        return {
            "class_ids": class_ids,
            "probabilities": probabilities,
            "classes": tf.gather(tf.constant(names), class_ids),
        }

    def classify(x: tf.Tensor) -> dict[str, tf.Tensor]:
        scores = forward(x)
        classes = tf.tile(tf.constant([names]), [tf.shape(scores)[0], 1])
        return {"classes": classes, "scores": scores}

    if inputs.kind == "text":
        return {
            DEFAULT_SIGNATURE: inputs.raw_endpoint(predict),
            **_token_ids_endpoint(model, answer),
            **inputs.examples_endpoint(classify, CLASSIFY_METHOD),
        }
    return {
        **inputs.predict_endpoints(predict),
        **inputs.examples_endpoint(classify, CLASSIFY_METHOD),
    }


def _token_ids_endpoint(model: Any, answer: Callable[[Any], dict[str, Any]]) -> dict[str, Endpoint]:
    """Text models: the same answer over token ids (``export.text``; what TFLite converts)."""
    from ....serving.export import text

    scorer = text.token_scorer(model)
    if scorer is None:
        return {}

    def serve(token_ids: Any) -> dict[str, Any]:
        return answer(scorer(token_ids, training=False))

    facts = ({"description": "token ids of preprocessing.tokenizer (0: padding, 1: unknown)"},)
    endpoint = Endpoint(serve, [text.token_ids_spec(model)], input_facts=facts,
                        description="token ids, as the .tflite takes them")  # fmt: skip
    return {text.TOKENS_SIGNATURE: endpoint}


def score(y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float) -> float:
    """Accuracy of the served ``class_ids``."""
    return float(np.mean(np.asarray(outputs["class_ids"]).reshape(-1) == y_true.reshape(-1)))


def edge_answer(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    result = {
        "class_ids": np.asarray(outputs["class_ids"]).astype(int).tolist(),
        "probabilities": np.asarray(outputs["probabilities"]).tolist(),
    }
    if card and card.class_names:
        result["class_names"] = [card.class_names[i] for i in result["class_ids"]]
    return result


CONTRACT = Contract(
    name="classification",
    inputs=("image", "tabular", "sequence", "text"),
    backbones=("classifier", "dense", "recurrent"),
    main_output="probabilities",
    endpoints=endpoints,
    score=score,
    edge_answer=edge_answer,
    labels="class_names",
    postprocessing="class_ids index labels",
    encoded_images=True,
)
