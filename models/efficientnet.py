"""EfficientNet B0-B7 (Tan & Le 2019): one baseline scaled in width, depth and resolution.

This family wraps ``keras.applications.efficientnet.EfficientNet`` (the
reference implementation; always ``weights=None``, nothing is downloaded):
each variant fixes the compound-scaling coefficients of the paper, and the
wrapper adds the resize to the variant's resolution inside the model and
stable names for the two preprocessing layers Keras leaves unnamed, and sets
Keras's input rescaling (1/255) to 1: the task already standardises the inputs.
``width_scale``/``depth_scale`` multiply the variant's coefficients (1.0 is the
published network; tests use small values for a tiny instance of the layout).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .inputs import check_image, image_input, name_generated_layers
from .lazy import keras
from .registry import register_model

TINY = {"input_shape": (32, 32, 3), "width_scale": 0.1, "depth_scale": 0.1}

# variant: (width coefficient, depth coefficient, resolution, dropout) from the paper.
SCALING = {
    "b0": (1.0, 1.0, 224, 0.2),
    "b1": (1.0, 1.1, 240, 0.2),
    "b2": (1.1, 1.2, 260, 0.3),
    "b3": (1.2, 1.4, 300, 0.3),
    "b4": (1.4, 1.8, 380, 0.4),
    "b5": (1.6, 2.2, 456, 0.4),
    "b6": (1.8, 2.6, 528, 0.5),
    "b7": (2.0, 3.1, 600, 0.5),
}


def efficientnet(
    variant: str,
    input_shape: Sequence[int],
    num_classes: int,
    input_size: int | None,
    width_scale: float,
    depth_scale: float,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """Family builder: resize (when asked), then the Keras EfficientNet with its softmax top.

    ``bn_momentum`` is every batch normalization's moving-average momentum (Keras's 0.99
    by default); training from scratch on a small data set, 0.9 lets the inference
    statistics follow the fast-changing weights of the first epochs.
    """
    check_image(input_shape, num_classes)
    if not 0 < bn_momentum < 1:
        raise ValueError(f"bn_momentum must be in (0, 1); got {bn_momentum!r}")
    if width_scale <= 0 or depth_scale <= 0:
        raise ValueError(
            f"width_scale and depth_scale must be positive; got {width_scale!r}, {depth_scale!r}"
        )
    width, depth, _, dropout = SCALING[variant]
    name = f"efficientnet_{variant}"
    # --- layers / functional model
    inputs, x = image_input(input_shape, input_size)
    if min(x.shape[1:3]) < 32:
        raise ValueError(
            f"{name} needs at least 32x32 pixels; got {tuple(x.shape[1:3])}: set input_size"
        )
    from keras.src.applications.efficientnet import EfficientNet  # the family function

    network = EfficientNet(
        width * width_scale,
        depth * depth_scale,
        default_size=int(x.shape[1]),
        dropout_rate=dropout,
        name=f"{name}_network",
        weights=None,
        input_shape=tuple(x.shape[1:]),
        classes=num_classes,
    )
    name_generated_layers(network, name)
    # The task feeds standardised inputs (statistics of the training split); Keras's own
    # 1/255 rescaling would shrink them 255-fold, and the stem's batch-norm moving variance
    # (starting at 1) would stay far above the batch variance for hundreds of steps: a
    # network right in training and constant at inference. Its scale becomes 1.
    rescaling = next(lay for lay in network.layers if isinstance(lay, keras.layers.Rescaling))
    rescaling.scale = 1.0
    for layer in network.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = bn_momentum
    return keras.Model(inputs, network(x), name=name)


def _variant(variant: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register an EfficientNet variant at its own resolution, with the shared tiny options."""
    size = SCALING[variant][2]
    return register_model(kind="classifier", example_input=(size, size, 3), tiny=TINY)


# Every variant: input_shape (one image), num_classes, input_size (resize inside
# the model; null keeps the input's size), width_scale and depth_scale (1.0 = published),
# bn_momentum (batch normalization's moving-average momentum; Keras's 0.99 by default).


@_variant("b0")
def efficientnet_b0(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B0 (wraps keras.applications; width 1.0, depth 1.0, 224 px)."""
    return efficientnet(
        "b0", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b1")
def efficientnet_b1(
    input_shape: tuple[int, int, int] = (240, 240, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B1 (wraps keras.applications; width 1.0, depth 1.1, 240 px)."""
    return efficientnet(
        "b1", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b2")
def efficientnet_b2(
    input_shape: tuple[int, int, int] = (260, 260, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B2 (wraps keras.applications; width 1.1, depth 1.2, 260 px)."""
    return efficientnet(
        "b2", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b3")
def efficientnet_b3(
    input_shape: tuple[int, int, int] = (300, 300, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B3 (wraps keras.applications; width 1.2, depth 1.4, 300 px)."""
    return efficientnet(
        "b3", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b4")
def efficientnet_b4(
    input_shape: tuple[int, int, int] = (380, 380, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B4 (wraps keras.applications; width 1.4, depth 1.8, 380 px)."""
    return efficientnet(
        "b4", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b5")
def efficientnet_b5(
    input_shape: tuple[int, int, int] = (456, 456, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B5 (wraps keras.applications; width 1.6, depth 2.2, 456 px)."""
    return efficientnet(
        "b5", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b6")
def efficientnet_b6(
    input_shape: tuple[int, int, int] = (528, 528, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B6 (wraps keras.applications; width 1.8, depth 2.6, 528 px)."""
    return efficientnet(
        "b6", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )


@_variant("b7")
def efficientnet_b7(
    input_shape: tuple[int, int, int] = (600, 600, 3),
    num_classes: int = 1000,
    input_size: int | None = None,
    width_scale: float = 1.0,
    depth_scale: float = 1.0,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """EfficientNet-B7 (wraps keras.applications; width 2.0, depth 3.1, 600 px)."""
    return efficientnet(
        "b7", input_shape, num_classes, input_size, width_scale, depth_scale, bn_momentum
    )
