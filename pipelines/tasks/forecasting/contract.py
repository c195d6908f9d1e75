"""Forecasting's serving contract: ``forecast`` ``[N, horizon]`` over the raw ``window``;
MASE over served outputs, scaled by the naive forecast's error.

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


def endpoints(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw ``window`` ``[N, steps, features]`` -> ``forecast``
    ``[N, horizon]`` in the target's units."""
    import tensorflow as tf

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"forecast": model(inputs, training=False)}

    return {DEFAULT_SIGNATURE: SignatureInputs(model, card).raw_endpoint(serve)}


def score(y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float) -> float:
    """MASE of the served ``forecast``: its mean absolute error over ``scale``."""
    forecast = np.asarray(outputs["forecast"], dtype="float64").reshape(len(y_true), -1)
    return float(np.mean(np.abs(forecast - y_true.reshape(len(y_true), -1))) / scale)


def naive_mae(card: ModelCard, x: np.ndarray, y_true: np.ndarray) -> float:
    """Forecasting: mean absolute error of the naive forecast (each window's last target
    value, the card's ``target_names[0]`` among its ``feature_names``); 1 without those."""
    features = list(card.data.get("feature_names", []))
    if not card.target_names or card.target_names[0] not in features:
        return 1.0
    last = np.asarray(x, "float64")[:, -1, features.index(card.target_names[0])]
    error = float(np.mean(np.abs(last[:, None] - y_true.reshape(len(y_true), -1))))
    return error if error > 0 else 1.0


def edge_answer(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    """``{"forecast": [[step 1, ..., step h] per window]}`` in the target's units."""
    result: dict[str, Any] = {"forecast": np.asarray(outputs["forecast"]).tolist()}
    if card and card.target_names:
        result["target_names"] = list(card.target_names)
    return result


CONTRACT = Contract(
    name="forecasting",
    inputs=("series",),
    backbones=("recurrent",),
    main_output="forecast",
    endpoints=endpoints,
    score=score,
    edge_answer=edge_answer,
    score_scale=naive_mae,
)
