"""Anomaly detection's serving contract: ``reconstruction``, ``anomaly_score`` and
``is_anomaly`` over the raw input; ROC AUC of the served scores.

TensorFlow is imported inside :func:`endpoints` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ....serving.export.input_forms import SignatureInputs
from ....serving.export.signatures import DEFAULT_SIGNATURE, Endpoint
from .. import Contract

if TYPE_CHECKING:
    from ....serving.card import ModelCard

THRESHOLD_LAYER = "score_threshold"
"""The layer holding the threshold; the training side adds it, :func:`endpoints` reads it."""


def endpoints(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``reconstruction`` (raw units), ``anomaly_score``
    (mean squared reconstruction error per example) and ``is_anomaly`` (score above the
    threshold the model carries in its ``score_threshold`` layer; a constant in the graph).
    """
    import tensorflow as tf

    threshold = model.get_layer(THRESHOLD_LAYER).threshold

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        reconstruction = model(inputs, training=False)
        error = tf.reshape(tf.square(reconstruction - tf.cast(inputs, reconstruction.dtype)),
                           [tf.shape(inputs)[0], -1])  # fmt: skip
        score = tf.reduce_mean(error, axis=-1)
        return {
            "reconstruction": reconstruction,
            "anomaly_score": score,
            "is_anomaly": score > tf.convert_to_tensor(threshold),
        }

    return {DEFAULT_SIGNATURE: SignatureInputs(model, card).raw_endpoint(serve)}


def score(y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float) -> float:
    """ROC AUC of the served ``anomaly_score`` (label 1: an anomaly)."""
    return roc_auc(y_true.reshape(-1) == 1, np.asarray(outputs["anomaly_score"]).reshape(-1))


def roc_auc(positive: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve: the chance a positive outscores a negative (ties count half).

    NaN when one side is empty. Pairwise, so for test splits, not millions of examples.
    """
    pos, neg = scores[positive][:, None], scores[~positive][None, :]
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    return float(np.mean((pos > neg) + 0.5 * (pos == neg)))


def edge_answer(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    return {
        "anomaly_score": np.asarray(outputs["anomaly_score"]).reshape(-1).tolist(),
        "is_anomaly": np.asarray(outputs["is_anomaly"]).astype(bool).reshape(-1).tolist(),
    }


CONTRACT = Contract(
    name="anomaly_detection",
    inputs=("image", "tabular"),
    backbones=("autoencoder",),
    main_output="anomaly_score",
    endpoints=endpoints,
    score=score,
    edge_answer=edge_answer,
)
