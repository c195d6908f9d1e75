"""The image input shared by the CNN families: checked, and resized inside the model."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .lazy import keras, layers


def check_image(input_shape: Sequence[int], num_classes: int | None = None) -> None:
    """Refuse an input shape that is not (height, width, channels), or fewer than 2 classes."""
    if len(input_shape) != 3 or not all(int(d) > 0 for d in input_shape):
        raise ValueError(
            f"input_shape must be (height, width, channels) of positive sizes; got {input_shape!r}"
        )
    if num_classes is not None and num_classes < 2:
        raise ValueError(f"num_classes must be at least 2; got {num_classes!r}")


def image_input(
    input_shape: Sequence[int], input_size: int | None, name: str = "pixels"
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """An image input and, when ``input_size`` is set, its bilinear resize to that square size.

    Resizing inside the model lets a family that needs large inputs (VGG, ResNet,
    EfficientNet, a ``keras.applications`` backbone) train on 8x8 digits while
    the served model still takes the original pixels.

    Raises:
        ValueError: ``input_size`` is set and not positive.
    """
    if input_size is not None and int(input_size) < 1:
        raise ValueError(f"input_size must be a positive integer or null; got {input_size!r}")
    inputs = keras.Input(shape=tuple(int(d) for d in input_shape), name=name)
    if input_size is None or tuple(input_shape[:2]) == (input_size, input_size):
        return inputs, inputs
    size = int(input_size)
    return inputs, layers.Resizing(size, size, interpolation="bilinear", name="resize")(inputs)


def name_generated_layers(network: keras.Model, prefix: str) -> None:
    """Give the layers a wrapped ``keras.applications`` network left unnamed a stable name.

    A layer still named after its class (``rescaling``, ``input_layer_3``,
    ``global_average_pooling2d``) becomes ``<prefix>_<that name>``, before the
    network is called or saved, so checkpoints and signatures stay stable.
    """
    for layer in network.layers:
        snake = re.sub(r"(?<!^)(?=[A-Z][a-z])", "_", type(layer).__name__).lower()
        if re.fullmatch(rf"{snake}(_\d+)?", layer.name):
            layer.name = f"{prefix}_{snake}"
