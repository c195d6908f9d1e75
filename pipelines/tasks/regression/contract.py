"""Regression's serving contract: ``values`` in the target's units over the raw input (and
its columns), ``regress`` over tf.Examples for a single target; R² over served outputs.

TensorFlow is imported inside :func:`endpoints` only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ....serving.export.input_forms import SignatureInputs
from ....serving.export.signatures import DEFAULT_SIGNATURE, Endpoint, traced_once
from ....serving.wire import REGRESS_METHOD
from .. import Contract

if TYPE_CHECKING:
    from ....serving.card import ModelCard


def endpoints(model: Any, card: ModelCard) -> dict[str, Endpoint]:
    """``serving_default``: raw features -> ``values`` in the target's units.

    A single target comes out as one value per example (shape ``[N]``), several
    as ``[N, targets]``. ``regress`` (single target only: TF Serving's Regress
    API answers one value per example) answers the same values as ``outputs``.
    """
    import tensorflow as tf

    inputs = SignatureInputs(model, card)
    targets = int(model.outputs[0].shape[-1])
    forward = traced_once(model)

    def predict(x: tf.Tensor) -> dict[str, tf.Tensor]:
        values = forward(x)
        return {"values": tf.squeeze(values, axis=-1) if targets == 1 else values}

    def regress(x: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"outputs": predict(x)["values"]}

    found = {DEFAULT_SIGNATURE: inputs.raw_endpoint(predict), **inputs.other_endpoints(predict)}
    if targets == 1:
        found.update(inputs.examples_endpoint(regress, REGRESS_METHOD))
    return found


def score(y_true: np.ndarray, outputs: dict[str, np.ndarray], scale: float) -> float:
    """R² of the served ``values``, averaged over targets."""
    values = np.asarray(outputs["values"], dtype="float64").reshape(len(y_true), -1)
    target = np.asarray(y_true, dtype="float64").reshape(len(y_true), -1)
    residual = np.sum((target - values) ** 2, axis=0)
    total = np.sum((target - target.mean(axis=0)) ** 2, axis=0)
    return float(np.mean(1.0 - residual / np.maximum(total, 1e-12)))


def edge_answer(outputs: dict[str, np.ndarray], card: ModelCard | None) -> dict[str, Any]:
    result: dict[str, Any] = {"values": np.asarray(outputs["values"]).tolist()}
    if card and card.target_names:
        result["target_names"] = list(card.target_names)
    return result


CONTRACT = Contract(
    name="regression",
    inputs=("tabular",),
    backbones=("dense",),
    main_output="values",
    endpoints=endpoints,
    score=score,
    edge_answer=edge_answer,
)
