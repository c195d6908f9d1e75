"""ResNet v1 (He et al. 2015): basic and bottleneck residual blocks with identity shortcuts.

ImageNet layouts (``resnet18`` ... ``resnet152``): a 7x7/2 stem and max pooling,
four stages widening from ``base_filters`` (64), global average pooling and a
softmax. CIFAR layouts (``resnet20`` ... ``resnet56``, depth ``6n + 2``): a 3x3
stem and three stages of ``n`` basic blocks widening from 16.

Shortcuts are identities except where a block changes the shape, where a 1x1
convolution projects (the paper's option B; for CIFAR it used parameter-free
zero padding, option A, so ResNet-20 here has 0.27M parameters rather than
0.269M). Convolutions keep their biases and batch norm uses epsilon 1.001e-5,
as ``keras.applications.ResNet50`` does, so ResNet-50 has its 25,636,712
parameters (moving statistics included).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from .inputs import check_image, image_input
from .lazy import keras, layers
from .registry import register_model

EPSILON = 1.001e-5
IMAGENET_TINY = {"input_shape": (32, 32, 3), "base_filters": 4}
CIFAR_TINY = {"input_shape": (16, 16, 3), "base_filters": 4}


def conv_bn(
    x: keras.KerasTensor, filters: int, kernel: int, stride: int, name: str, relu: bool = True
) -> keras.KerasTensor:
    """Convolution, batch norm and (optionally) ReLU."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(epsilon=EPSILON, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x) if relu else x


def shortcut(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    """Identity, or a 1x1 projection with batch norm where the shape changes."""
    if stride == 1 and x.shape[-1] == filters:
        return x
    return conv_bn(x, filters, 1, stride, name=f"{name}_0", relu=False)


def basic_block(x: keras.KerasTensor, filters: int, stride: int, name: str) -> keras.KerasTensor:
    """Two 3x3 convolutions plus the shortcut (ResNet-18/34 and the CIFAR layouts)."""
    short = shortcut(x, filters, stride, name)
    x = conv_bn(x, filters, 3, stride, name=f"{name}_1")
    x = conv_bn(x, filters, 3, 1, name=f"{name}_2", relu=False)
    x = layers.Add(name=f"{name}_add")([short, x])
    return layers.ReLU(name=f"{name}_out")(x)


def bottleneck_block(
    x: keras.KerasTensor, filters: int, stride: int, name: str
) -> keras.KerasTensor:
    """1x1 reduce, 3x3, 1x1 expand to ``4 * filters``, plus the shortcut (ResNet-50/101/152)."""
    short = shortcut(x, 4 * filters, stride, name)
    x = conv_bn(x, filters, 1, stride, name=f"{name}_1")
    x = conv_bn(x, filters, 3, 1, name=f"{name}_2")
    x = conv_bn(x, 4 * filters, 1, 1, name=f"{name}_3", relu=False)
    x = layers.Add(name=f"{name}_add")([short, x])
    return layers.ReLU(name=f"{name}_out")(x)


def stem(x: keras.KerasTensor, filters: int, kind: str) -> keras.KerasTensor:
    """ImageNet: 7x7/2 convolution and 3x3/2 max pooling; CIFAR: one 3x3 convolution."""
    if kind == "cifar":
        return conv_bn(x, filters, 3, 1, name="conv1")
    x = conv_bn(x, filters, 7, 2, name="conv1")
    return layers.MaxPooling2D(3, strides=2, padding="same", name="pool1")(x)


def resnet(
    block: Literal["basic", "bottleneck"],
    blocks_per_stage: Sequence[int],
    kind: Literal["imagenet", "cifar"],
    name: str,
    input_shape: Sequence[int],
    num_classes: int,
    base_filters: int,
    input_size: int | None,
) -> keras.Model:
    """Family builder: stem, stages of residual blocks (doubling width, halving size), head."""
    check_image(input_shape, num_classes)
    if base_filters < 1:
        raise ValueError(f"base_filters must be a positive integer; got {base_filters!r}")
    make_block = basic_block if block == "basic" else bottleneck_block
    # --- layers / functional model
    inputs, x = image_input(input_shape, input_size)
    x = stem(x, base_filters, kind)
    for stage, count in enumerate(blocks_per_stage):
        filters = base_filters * 2**stage
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            x = make_block(x, filters, stride, name=f"conv{stage + 2}_block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=name)


# Every variant: input_shape (one image), num_classes, base_filters (the stem's
# width; stages double it), input_size (resize inside the model; null = none).


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=IMAGENET_TINY)
def resnet18(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    base_filters: int = 64,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-18 v1: basic blocks [2, 2, 2, 2], ImageNet layout.

    The paper's model has 11.7M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("basic", (2, 2, 2, 2), "imagenet", "resnet18", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=IMAGENET_TINY)
def resnet34(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    base_filters: int = 64,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-34 v1: basic blocks [3, 4, 6, 3], ImageNet layout.

    The paper's model has 21.8M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("basic", (3, 4, 6, 3), "imagenet", "resnet34", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=IMAGENET_TINY)
def resnet50(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    base_filters: int = 64,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-50 v1: bottleneck blocks [3, 4, 6, 3], ImageNet layout.

    The paper's model has 25.6M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("bottleneck", (3, 4, 6, 3), "imagenet", "resnet50", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=IMAGENET_TINY)
def resnet101(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    base_filters: int = 64,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-101 v1: bottleneck blocks [3, 4, 23, 3], ImageNet layout.

    The paper's model has 44.7M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("bottleneck", (3, 4, 23, 3), "imagenet", "resnet101", *args)


@register_model(kind="classifier", example_input=(224, 224, 3), tiny=IMAGENET_TINY)
def resnet152(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    num_classes: int = 1000,
    base_filters: int = 64,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-152 v1: bottleneck blocks [3, 8, 36, 3], ImageNet layout.

    The paper's model has 60.4M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("bottleneck", (3, 8, 36, 3), "imagenet", "resnet152", *args)


@register_model(kind="classifier", example_input=(32, 32, 3), tiny=CIFAR_TINY)
def resnet20(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    base_filters: int = 16,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-20 v1: basic blocks [3, 3, 3], CIFAR layout.

    The paper's model has 0.27M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("basic", (3, 3, 3), "cifar", "resnet20", *args)


@register_model(kind="classifier", example_input=(32, 32, 3), tiny=CIFAR_TINY)
def resnet32(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    base_filters: int = 16,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-32 v1: basic blocks [5, 5, 5], CIFAR layout.

    The paper's model has 0.47M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("basic", (5, 5, 5), "cifar", "resnet32", *args)


@register_model(kind="classifier", example_input=(32, 32, 3), tiny=CIFAR_TINY)
def resnet44(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    base_filters: int = 16,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-44 v1: basic blocks [7, 7, 7], CIFAR layout.

    The paper's model has 0.66M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("basic", (7, 7, 7), "cifar", "resnet44", *args)


@register_model(kind="classifier", example_input=(32, 32, 3), tiny=CIFAR_TINY)
def resnet56(
    input_shape: tuple[int, int, int] = (32, 32, 3),
    num_classes: int = 10,
    base_filters: int = 16,
    input_size: int | None = None,
) -> keras.Model:
    """ResNet-56 v1: basic blocks [9, 9, 9], CIFAR layout.

    The paper's model has 0.86M parameters; `kerasforge models` prints this build's count.
    """
    args = (input_shape, num_classes, base_filters, input_size)
    return resnet("basic", (9, 9, 9), "cifar", "resnet56", *args)
