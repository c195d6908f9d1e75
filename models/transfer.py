"""Transfer learning: any ``keras.applications`` backbone under the task's new head.

``transfer`` is a backbone (the task adds the classifier head), built as
input -> resize (``input_size``) -> grey to RGB (one-channel inputs) -> the
application without its top, average-pooled, called with ``training=False`` and
its BatchNormalization layers kept frozen, so they stay in inference mode
whatever else trains -> dropout. Three modes:

- ``feature_extraction``: the whole backbone is frozen; only the head trains.
- ``fine_tune``: the top ``trainable_blocks`` blocks train from the start.
- ``gradual_unfreeze``: the backbone starts frozen; at each epoch listed in
  ``unfreeze_epochs`` another ``trainable_blocks`` blocks, from the top, become
  trainable (the ``GradualUnfreeze`` callback, which the trainer adds because
  this entry declares it). The optimizer keeps its iteration count and moments.

A *block* is a run of consecutive layers sharing a name prefix
(``conv5_block3``, ``block_16``, ``block6a``, ``block5``; other layers group by
their first name token), counting only runs that hold weights.

Learning rate: ``train.learning_rate`` trains the new head. ``fine_tune_learning_rate``
(default: none, keep one rate) is the rate used once backbone blocks train: from
the first step in ``fine_tune``, from the first unfreezing in ``gradual_unfreeze``
(the usual recipe: fit the head fast, then lower the rate ~10x to adapt the backbone).

Weights: ``none`` (random initialisation), a path to a local weights file of the
same application without its top (e.g. written by ``save_weights``), or
``imagenet``, which downloads from the internet on first use and is never used by
tests or shipped configs. ImageNet weights expect their own input scaling; the
task standardises inputs, which is close to MobileNet's [-1, 1] but not Caffe's BGR.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from .backbones import BACKBONE_NAME, find_backbone, set_trainable_top
from .inputs import check_image, image_input, name_generated_layers
from .lazy import keras, layers
from .registry import register_model

Mode = Literal["feature_extraction", "fine_tune", "gradual_unfreeze"]


def applications() -> list[str]:
    """The backbone names ``keras.applications`` offers (``ResNet50``, ``MobileNetV2``, ...)."""
    return sorted(n for n in dir(keras.applications) if n[0].isupper())


def _check(mode: str, trainable_blocks: int, unfreeze_epochs: Sequence[int], rate: Any) -> None:
    problems = []
    if mode not in ("feature_extraction", "fine_tune", "gradual_unfreeze"):
        problems.append(
            f"mode must be feature_extraction, fine_tune or gradual_unfreeze; got {mode!r}"
        )
    if trainable_blocks < 1:
        problems.append(f"trainable_blocks must be at least 1; got {trainable_blocks!r}")
    if mode == "gradual_unfreeze" and (
        not unfreeze_epochs or any(int(e) < 1 for e in unfreeze_epochs)
    ):
        problems.append(
            "gradual_unfreeze needs unfreeze_epochs, a list of epochs >= 1 (0-based) at which "
            f"to unfreeze the next blocks; got {list(unfreeze_epochs)!r}"
        )
    if rate is not None and not 0 < float(rate) <= 10:
        problems.append(f"fine_tune_learning_rate must be in (0, 10]; got {rate!r}")
    if problems:
        raise ValueError("; ".join(problems))


def transfer_callbacks(
    mode: Mode = "feature_extraction",
    trainable_blocks: int = 2,
    unfreeze_epochs: Sequence[int] = (),
    fine_tune_learning_rate: float | None = None,
    **_: Any,
) -> list:
    """The training callback for the modes that change what trains (none for feature extraction)."""
    if mode == "feature_extraction":
        return []
    from .unfreeze import GradualUnfreeze

    epochs = tuple(unfreeze_epochs) if mode == "gradual_unfreeze" else ()
    return [GradualUnfreeze(trainable_blocks, epochs, fine_tune_learning_rate)]


@register_model(
    kind="classifier",
    example_input=(224, 224, 3),
    # VGG16: no batch norm, so a random backbone still passes gradients to its top block
    tiny={
        "input_shape": (32, 32, 1),
        "backbone": "VGG16",
        "mode": "fine_tune",
        "trainable_blocks": 1,
    },
    callbacks=transfer_callbacks,
)
def transfer(
    input_shape: tuple[int, int, int] = (224, 224, 3),
    backbone: str = "MobileNetV2",
    weights: str = "none",
    mode: Mode = "feature_extraction",
    trainable_blocks: int = 2,
    unfreeze_epochs: tuple[int, ...] = (),
    fine_tune_learning_rate: float | None = None,
    input_size: int | None = None,
    dropout: float = 0.2,
) -> keras.Model:
    """Any keras.applications backbone (weights none, a local file or imagenet) for a new head.

    Args are described in the module docstring: ``backbone`` names the
    application, ``dropout`` comes after its pooled features.
    """
    check_image(input_shape)
    _check(mode, trainable_blocks, unfreeze_epochs, fine_tune_learning_rate)
    names = applications()
    if backbone not in names:
        raise ValueError(f"backbone must be a keras.applications name; got {backbone!r}: {names}")
    # --- layers / functional model
    inputs, x = image_input(input_shape, input_size)
    if x.shape[-1] == 1:
        x = layers.Concatenate(name="gray_to_rgb")([x, x, x])
    network = getattr(keras.applications, backbone)(
        include_top=False,
        weights=None if weights == "none" else weights,
        input_shape=tuple(x.shape[1:]),
        pooling="avg",
    )
    network.name = BACKBONE_NAME
    name_generated_layers(network, BACKBONE_NAME)
    set_trainable_top(network, trainable_blocks if mode == "fine_tune" else 0)
    x = network(x, training=False)  # BatchNormalization stays in inference mode
    x = layers.Dropout(dropout, name="features_dropout")(x)
    return keras.Model(inputs, x, name="transfer")


def save_backbone_weights(checkpoint: str | Path, out: str | Path) -> int:
    """Save the backbone of a trained ``transfer`` checkpoint as ``out`` (``.weights.h5``).

    ``out`` is a local weights file for ``weights=``: a new ``transfer`` model of
    the same ``backbone`` and ``input_size`` starts from what this one learned
    (pretrain on some classes, transfer to others). Returns the backbone's
    parameter count.

    Raises:
        ValueError: the checkpoint holds no ``transfer`` backbone.
    """
    from .registry import load_model

    model = load_model(checkpoint)
    try:
        network = find_backbone(model)
    except LookupError:
        raise ValueError(
            f"{str(checkpoint)!r} holds no `transfer` backbone (no layer named "
            f"{BACKBONE_NAME!r}); train model.name: transfer first"
        ) from None
    network.save_weights(str(out))
    return int(network.count_params())
