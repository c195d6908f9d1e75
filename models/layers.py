"""Custom layers of the model zoo, registered with Keras's serialisation.

This module imports Keras at import time, so the registry never imports it:
builders import it on first use, and ``kerasforge.models.load_model`` imports
it before reading a ``.keras`` file so the classes are known.
"""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="kerasforge")
class LocalResponseNormalization(keras.layers.Layer):
    """Local response normalisation across channels (Krizhevsky et al. 2012, section 3.3).

    ``b = a / (bias + alpha * sum(a^2 over depth_radius neighbours each side)) ** beta``,
    the AlexNet constants by default (``n = 5`` channels, ``k = 2``, ``alpha = 1e-4``,
    ``beta = 0.75``). ``alpha`` is per element (not divided by ``n``), as in the paper.

    Args:
        depth_radius: channels on each side in the sum (the paper's ``n = 2r + 1``).
        bias: the additive constant ``k``.
        alpha: the scale of the sum of squares.
        beta: the exponent.
    """

    def __init__(
        self,
        depth_radius: int = 2,
        bias: float = 2.0,
        alpha: float = 1e-4,
        beta: float = 0.75,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.depth_radius = int(depth_radius)
        self.bias = float(bias)
        self.alpha = float(alpha)
        self.beta = float(beta)

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        squared = ops.square(inputs)
        r = self.depth_radius
        # Sum over a window of 2r+1 channels: pad the channel axis, then add shifted slices.
        padded = ops.pad(squared, [[0, 0]] * (len(inputs.shape) - 1) + [[r, r]])
        channels = inputs.shape[-1]
        total = sum(padded[..., i : i + channels] for i in range(2 * r + 1))
        return inputs / ops.power(self.bias + self.alpha * total, self.beta)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "depth_radius": self.depth_radius,
            "bias": self.bias,
            "alpha": self.alpha,
            "beta": self.beta,
        }


@keras.saving.register_keras_serializable(package="kerasforge")
class LastStep(keras.layers.Layer):
    """The last step of a sequence: ``[N, steps, features] -> [N, 1, features]``, or of
    one feature, ``[N, 1]``.

    A forecaster subtracts it from its window and adds it back to its predicted changes.

    Args:
        feature: the feature's position on the last axis; ``None``: every feature.
    """

    def __init__(self, feature: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.feature = None if feature is None else int(feature)

    def call(self, inputs: Any) -> Any:
        if self.feature is None:
            return inputs[:, -1:, :]
        return inputs[:, -1, self.feature : self.feature + 1]

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.feature is None:
            return (input_shape[0], 1, input_shape[-1])
        return (input_shape[0], 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "feature": self.feature}


@keras.saving.register_keras_serializable(package="kerasforge")
class AnomalyThreshold(keras.layers.Layer):
    """Passes its input through unchanged and carries the anomaly threshold as a weight.

    The ``anomaly_detection`` task sets ``threshold`` after training (a quantile of
    the validation reconstruction errors); it is saved with the model, so the
    exported signature reads it from the graph and ``.keras`` files keep it.
    """

    def build(self, input_shape: tuple) -> None:
        self.threshold = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="threshold"
        )

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


@keras.saving.register_keras_serializable(package="kerasforge")
class TrainingAugmentation(keras.layers.Layer):
    """Random image augmentation layers that run only in training (on the accelerator).

    Keras's random preprocessing layers default to ``training=True`` when a model
    is called directly (``model(x)``, as SavedModel export and TFLite conversion
    do); wrapped here, they run only when Keras passes ``training=True`` (``fit``)
    and every other call gets its input back unchanged.

    Args:
        augmentations: the Keras random preprocessing layers, applied in order.
    """

    def __init__(self, augmentations: list[Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.augmentations = [
            layer
            if isinstance(layer, keras.layers.Layer)
            else keras.saving.deserialize_keras_object(layer)
            for layer in augmentations
        ]

    def build(self, input_shape: tuple) -> None:
        for layer in self.augmentations:
            layer.build(input_shape)

    def call(self, inputs: Any, training: bool = False) -> Any:
        if not training:
            return inputs
        for layer in self.augmentations:
            inputs = layer(inputs, training=True)
        return inputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        layers = [keras.saving.serialize_keras_object(layer) for layer in self.augmentations]
        return {**super().get_config(), "augmentations": layers}
