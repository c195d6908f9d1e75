"""The serving contract of each task: the signatures its SavedModel exports.

A task's trained Keras model takes raw inputs (its preprocessing is inside
the model); here each task names the signatures TF Serving (and the embedded
server, and TFLite) will expose and their named outputs. The exporter looks
the task up on the model card, so ``kerasforge export`` can republish a
checkpoint without training code. A new task adds one function here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kerasforge.serving.errors import ServingError

DEFAULT_SIGNATURE = "serving_default"


@dataclass(frozen=True)
class Endpoint:
    """One signature to export: a function of named input tensors and its input specs."""

    fn: Callable[..., dict[str, Any]]
    input_signature: list[Any]


def _raw_input_spec(model: Any) -> Any:
    import tensorflow as tf

    tensor = model.inputs[0]
    name = tensor.name.split(":")[0]
    return tf.TensorSpec((None, *tensor.shape[1:]), tf.as_dtype(tensor.dtype), name=name)


def classification(model: Any) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``class_ids`` (int64) and ``probabilities``."""
    import tensorflow as tf

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        probabilities = model(inputs, training=False)
        return {
            "class_ids": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
            "probabilities": probabilities,
        }

    return {DEFAULT_SIGNATURE: Endpoint(serve, [_raw_input_spec(model)])}


def regression(model: Any) -> dict[str, Endpoint]:
    """``serving_default``: raw features -> ``values`` in the target's units.

    A single target comes out as one value per example (shape ``[N]``), several
    as ``[N, targets]``.
    """
    import tensorflow as tf

    targets = int(model.outputs[0].shape[-1])

    def serve(inputs: tf.Tensor) -> dict[str, tf.Tensor]:
        values = model(inputs, training=False)
        return {"values": tf.squeeze(values, axis=-1) if targets == 1 else values}

    return {DEFAULT_SIGNATURE: Endpoint(serve, [_raw_input_spec(model)])}


def anomaly_detection(model: Any) -> dict[str, Endpoint]:
    """``serving_default``: raw input -> ``reconstruction`` (raw units), ``anomaly_score``
    (mean squared reconstruction error per example) and ``is_anomaly`` (score above the
    threshold the model carries in its ``score_threshold`` layer; a constant in the graph).
    """
    import tensorflow as tf

    threshold = model.get_layer("score_threshold").threshold

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

    return {DEFAULT_SIGNATURE: Endpoint(serve, [_raw_input_spec(model)])}


CONTRACTS: dict[str, Callable[[Any], dict[str, Endpoint]]] = {
    "classification": classification,
    "regression": regression,
    "anomaly_detection": anomaly_detection,
}


def endpoints(task: str, model: Any) -> dict[str, Endpoint]:
    """The signatures ``task`` exports for ``model``.

    Raises:
        ServingError: no serving contract is known for ``task``.
    """
    if task not in CONTRACTS:
        raise ServingError(
            f"no serving contract for task {task!r}; known: {', '.join(sorted(CONTRACTS))}"
        )
    return CONTRACTS[task](model)
