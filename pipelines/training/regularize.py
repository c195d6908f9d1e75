"""Regularisation from ``train``: label smoothing and an L2 penalty on kernels.

Label smoothing: Keras' ``SparseCategoricalCrossentropy`` has no
``label_smoothing`` argument, so :class:`SmoothedSparseCrossentropy` one-hot
encodes the integer labels inside the loss and applies
``categorical_crossentropy(label_smoothing=...)``. The targets stay integer
class ids, so the ``accuracy`` metric and the data pipeline are unchanged.
(Decoupled weight decay is an optimizer option: ``train.weight_decay``.)
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from ..errors import ConfigError

SPARSE_LOSSES = ("sparse_categorical_crossentropy",)


@keras.saving.register_keras_serializable(package="kerasforge")
class SmoothedSparseCrossentropy(keras.losses.Loss):
    """Cross-entropy of integer labels against probabilities, with label smoothing."""

    def __init__(
        self, label_smoothing: float = 0.1, name: str = "smoothed_sparse_crossentropy", **kwargs
    ) -> None:
        super().__init__(name=name, **kwargs)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        one_hot = _dense_labels(y_true, y_pred)
        return keras.losses.categorical_crossentropy(
            one_hot, y_pred, label_smoothing=self.label_smoothing
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "label_smoothing": self.label_smoothing}


def _dense_labels(y_true: Any, y_pred: Any) -> Any:
    """One-hot targets: integer class ids are encoded, soft labels (MixUp) pass through."""
    classes = y_pred.shape[-1]
    if len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == classes and classes != 1:
        return ops.cast(y_true, y_pred.dtype)
    labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
    return ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)


@keras.saving.register_keras_serializable(package="kerasforge")
def soft_label_accuracy(y_true: Any, y_pred: Any) -> Any:
    """Accuracy against integer class ids or soft labels (the class of largest weight)."""
    truth = ops.argmax(_dense_labels(y_true, y_pred), axis=-1)
    return ops.cast(ops.equal(truth, ops.argmax(y_pred, axis=-1)), "float32")


def smoothed(
    compile_arguments: dict[str, Any], label_smoothing: float, *, soft_labels: bool = False
) -> dict[str, Any]:
    """The task's compile arguments with label smoothing applied to its loss.

    ``soft_labels``: the training targets may be soft labels (MixUp, CutMix):
    the loss and ``accuracy`` then take both soft labels and class ids.

    Raises:
        ConfigError: the task's loss is not a class cross-entropy.
    """
    if not label_smoothing and not soft_labels:
        return compile_arguments
    loss = compile_arguments.get("loss")
    if loss not in SPARSE_LOSSES:
        key = "train.label_smoothing" if label_smoothing else "data.augmentation"
        raise ConfigError(
            f"{key}: label smoothing, MixUp and CutMix apply to class cross-entropy losses; "
            f"this task's loss is {loss!r}: set train.label_smoothing=0 and "
            "data.augmentation.mixup_alpha / cutmix_alpha to 0"
        )
    arguments = {**compile_arguments, "loss": SmoothedSparseCrossentropy(label_smoothing)}
    if soft_labels:
        accuracy = keras.metrics.MeanMetricWrapper(soft_label_accuracy, name="accuracy")
        metrics = compile_arguments.get("metrics", [])
        arguments["metrics"] = [accuracy if m == "accuracy" else m for m in metrics]
    return arguments


def add_l2(model: keras.Model, factor: float) -> int:
    """Add ``factor * sum(kernel ** 2)`` to the loss for every kernel of ``model``.

    Returns:
        How many kernels are penalised.
    """
    if not factor:
        return 0
    count = 0
    for layer in _all_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None or not getattr(kernel, "trainable", False):
            continue
        regularizer = keras.regularizers.L2(factor)
        if hasattr(layer, "kernel_regularizer"):
            layer.kernel_regularizer = regularizer  # kept in the layer's config
        kernel.regularizer = regularizer  # what Keras sums into model.losses
        count += 1
    return count


def _all_layers(model: keras.Layer) -> list[keras.Layer]:
    layers = []
    for layer in getattr(model, "layers", []):
        layers.append(layer)
        layers.extend(_all_layers(layer))
    return layers
